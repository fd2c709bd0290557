"""`python -m bench.ab_sequential`: two builds of our server side by side (plus the first again as a noise
gauge), sequential calls interleaved call by call, each stack with its own TypeScript service (docs/latency.md)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx

from bench.latency_stages import register_when_ready
from bench.plan import HANDLERS
from bench.runner import BODY, JSON
from tests.sdk_matrix.ts_service import TsService
from tests.support import OurRestateServer

WARMUP = 20


def cpu_seconds(server: OurRestateServer, pattern: str) -> float:
    """User + system CPU of the server's children whose pid file matches `pattern` ("*", "p*", "ingress")."""
    total = 0
    for pid_file in (server.base_dir / "pids").glob(f"{pattern}.pid"):
        try:
            fields = Path(f"/proc/{int(pid_file.read_text())}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def start(root: Path, name: str, binary: str) -> tuple[OurRestateServer, TsService]:
    logs = root / "logs"
    server = OurRestateServer(root / name, logs, partitions=2, name=name)
    server.process.argv[0] = binary  # the build under test: its own `restate` entry point
    service = TsService(logs, "h2c", app="bench").start()
    server.process.start()
    register_when_ready(server, service.url)
    return server, service


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab_sequential", description=__doc__)
    p.add_argument("old", help="the baseline's restate entry point, e.g. /work/main/.venv/bin/restate")
    p.add_argument("new", help="the candidate's, e.g. .venv/bin/restate")
    p.add_argument("--handlers", default="noop,steps3,object", help="comma-separated (default noop,steps3,object)")
    p.add_argument("--calls", type=int, default=400, help="measured calls per handler and stack (default 400)")
    p.add_argument("--cpu-of", default="*", help="pid files whose CPU is counted: * (default), p* (partitions)")
    args = p.parse_args(argv)
    old, new = os.path.abspath(args.old), os.path.abspath(args.new)  # the servers run in their own directory
    builds = {"old": old, "new": new, "old2": old}
    with tempfile.TemporaryDirectory(prefix="ab-sequential-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        stacks: dict[str, tuple[OurRestateServer, TsService, httpx.Client]] = {}
        try:
            for name, binary in builds.items():
                server, service = start(root, name, binary)
                stacks[name] = (server, service, httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=1)))
            for handler_name in args.handlers.split(","):
                handler = HANDLERS[handler_name]
                latencies: dict[str, list[float]] = {name: [] for name in stacks}
                cpu0: dict[str, float] = {}
                names = list(stacks)
                for i in range(WARMUP + args.calls):
                    if i == WARMUP:
                        cpu0 = {name: cpu_seconds(s[0], args.cpu_of) for name, s in stacks.items()}
                    for name in names[i % 3 :] + names[: i % 3]:  # each stack goes first in turn
                        server, _, client = stacks[name]
                        path = handler.path.replace("{key}", f"k{i % handler.keys}" if handler.keys else "")
                        started = time.perf_counter()
                        response = client.post(server.ingress_url + path, content=BODY, headers=JSON)
                        elapsed_ms = (time.perf_counter() - started) * 1000
                        if response.status_code != 200:
                            raise RuntimeError(f"{name} {path}: HTTP {response.status_code}")
                        if i >= WARMUP:
                            latencies[name].append(elapsed_ms)
                parts = []
                for name, (server, _, _) in stacks.items():
                    ordered = sorted(latencies[name])
                    cpu_ms = (cpu_seconds(server, args.cpu_of) - cpu0[name]) / args.calls * 1000
                    p50, p99 = ordered[len(ordered) // 2], ordered[max(0, int(len(ordered) * 0.99) - 1)]
                    parts.append(f"{name} p50 {p50:.2f} ms p99 {p99:.2f} ms CPU {cpu_ms:.2f} ms/call")
                print(f"{handler_name}: " + "  ".join(parts), flush=True)
        finally:
            for server, service, client in stacks.values():
                client.close()
                service.stop()
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
