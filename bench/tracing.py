"""The cost of tracing: our server with tracing off and on, same run, alternating rounds, on the 3-step
workload (`Bench/steps3`: three ctx.run steps, tests/services/bench.py).

    .venv/bin/python -m bench.tracing [--rounds 2] [--duration 5] [--calls 200] [--connections 16]

Each round starts a fresh server (2 partitions) for each mode; "on" exports every span over OTLP/HTTP
to a local sink that reads and drops the requests (the collector's cost is not the server's). Per mode:
sequential latency (p50/p99 of `--calls` calls), closed-loop throughput (wrk), and the server's CPU
seconds per 1000 invocations during the wrk run. The ratios on/off are of the medians over rounds."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.procstats import tree_cpu_seconds, wait_quiet
from tests.support import OurRestateServer, ServiceProcess
from tests.support.net import free_port

PATH = "/Bench/steps3"


class _Sink:
    """An OTLP/HTTP endpoint that accepts and drops every export request."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", "0")))
                sink.requests += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _round(mode: str, sink: _Sink, service: ServiceProcess, work: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {"RESTATE_TRACING_ENDPOINT": f"otlp+http://127.0.0.1:{sink.port}/v1/traces"} if mode == "on" else {}
    server = OurRestateServer(work / f"{mode}-{time.monotonic_ns()}", work, partitions=2, env=env).start()
    try:
        server.register(service.url)
        url, json_body = server.ingress_url + PATH, {"content-type": "application/json"}
        with httpx.Client(timeout=30) as client:
            for _ in range(20):  # warm-up
                client.post(url, content=b"1", headers=json_body)
            times = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                resp = client.post(url, content=b"1", headers=json_body)
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200 and resp.json() == 4, resp.text
        pid = server.process.pid
        wait_quiet(lambda: [pid])
        cpu0 = tree_cpu_seconds(pid)
        result = wrk.run(server.ingress_url, PATH, "1", connections=args.connections, duration_s=args.duration)
        cpu = tree_cpu_seconds(pid) - cpu0
    finally:
        server.stop()
    times.sort()
    return {
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "rps": result.ok_rps,
        "errors": float(result.non2xx + sum(result.socket_errors.values())),
        "cpu_s_per_1000": cpu / max(result.ok, 1) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0, help="seconds of wrk per mode and round")
    p.add_argument("--calls", type=int, default=200, help="sequential calls per mode and round")
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args(argv)
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    sink = _Sink()
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp:
        work = Path(tmp)
        service = ServiceProcess(work, module="bench").start()
        try:
            for r in range(args.rounds):
                for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                    results[mode].append(_round(mode, sink, service, work, args))
                    print(f"round {r + 1} tracing {mode}: {results[mode][-1]}", flush=True)
        finally:
            service.stop()
            sink.stop()
    print(f"\nexport requests received with tracing on: {sink.requests}")
    print(f"{'figure':<16}{'off':>10}{'on':>10}{'on/off':>9}")
    for key in ("p50_ms", "p99_ms", "rps", "cpu_s_per_1000", "errors"):
        off = statistics.median(x[key] for x in results["off"])
        on = statistics.median(x[key] for x in results["on"])
        ratio = f"{on / off:.3f}" if off else "-"
        print(f"{key:<16}{off:>10.3f}{on:>10.3f}{ratio:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
