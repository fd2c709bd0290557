"""`python -m bench.latency_stages`: where a sequential call's time goes, stage by stage (docs/latency.md).

Runs our server with RESTATE_STAGE_TRACE (restate/stage_trace.py: every process appends CLOCK_MONOTONIC
timestamps at the stage boundaries of the request path) and the benchmark's service (TypeScript by default),
makes sequential calls on one keep-alive connection, marks the client's send and receive in the same clock,
then merges the files into one timeline per call. The calls that took the most common path give the table:
the median and p90 of every interval between two consecutive stages.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from bench.plan import HANDLERS, SERVICES
from bench.runner import BODY, JSON, BenchService
from restate.stage_trace import ENV
from tests.sdk_matrix.ts_service import TsService
from tests.support import OurRestateServer
from tests.support.net import free_port

CLIENT_SEND, CLIENT_RECEIVE = "client: request sent", "client: response read"
INGRESS_ANSWERED = "ingress: response written"  # restate/ingress/app.py's mark
INGRESS_IN = "ingress: request in"
REGISTER_DEADLINE_S = 60.0


def read_events(directory: Path) -> list[tuple[int, str]]:
    """Every `<ns> <stage>` line of every process's file, in time order."""
    events: list[tuple[int, str]] = []
    for path in directory.glob("stages.*"):
        for line in path.read_text().splitlines():
            ns, _, stage = line.partition(" ")
            if ns.isdigit() and stage:
                events.append((int(ns), stage))
    events.sort()
    return events


def split_calls(events: Iterable[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """The events from each client send to the next client receive (events outside a call are dropped).
    Between the ingress writing the response and the client reading it only the HTTP/2 stream's closing
    frames go by (off the call's path, in varying order): they are left out."""
    calls: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] | None = None
    answered = arrived = False
    for ns, stage in events:
        if stage == CLIENT_SEND:
            current, answered, arrived = [(ns, stage)], False, False
        elif current is not None:
            if stage == CLIENT_RECEIVE:
                current.append((ns, stage))
                calls.append(current)
                current = None
            elif stage == INGRESS_ANSWERED and not arrived:
                continue  # the previous call's: its mark follows the write, which the client may beat
            elif not answered:
                current.append((ns, stage))
                arrived = arrived or stage == INGRESS_IN
                answered = stage == INGRESS_ANSWERED
    return calls


def breakdown(calls: list[list[tuple[int, str]]]) -> tuple[list[tuple[str, str, float, float]], int, float]:
    """For the calls that took the most common path: (from, to, median µs, p90 µs) per interval, how many
    calls took that path, and their median total in µs."""
    if not calls:
        return [], 0, 0.0
    paths = collections.Counter(tuple(stage for _, stage in call) for call in calls)
    path, count = paths.most_common(1)[0]
    typical = [call for call in calls if tuple(stage for _, stage in call) == path]
    rows = []
    for i in range(1, len(path)):
        gaps = sorted((call[i][0] - call[i - 1][0]) / 1000 for call in typical)
        rows.append((path[i - 1], path[i], statistics.median(gaps), gaps[int(0.9 * (len(gaps) - 1))]))
    total = statistics.median((call[-1][0] - call[0][0]) / 1000 for call in typical)
    return rows, count, total


Call = list[tuple[int, str]]


def markdown(
    handler: str, rows: list[tuple[str, str, float, float]], count: int, calls: list[Call], total: float
) -> str:
    everything = statistics.median((c[-1][0] - c[0][0]) / 1000 for c in calls) if calls else 0.0
    lines = [
        f"{HANDLERS[handler].label}: {count} of {len(calls)} calls took this path, median {total:,.0f} µs "
        f"(all calls: median {everything:,.0f} µs)",
        "",
        "| from | to | median µs | p90 µs |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {median:,.0f} | {p90:,.0f} |" for a, b, median, p90 in rows]
    return "\n".join(lines) + "\n"


def register_when_ready(server: OurRestateServer, service_url: str, deadline_s: float = REGISTER_DEADLINE_S) -> None:
    """Waits for the server's health, then registers the service, trying again until `deadline_s` (the
    service may still be binding its port)."""
    server.wait_ready(deadline_s)
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            server.register(service_url)
            return
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(service_kind: str, handlers: list[str], calls: int, warmup: int, root: Path) -> str:
    """Starts the stack in `root`, measures each handler, stops everything; the markdown tables."""
    logs, traces = root / "logs", root / "stages"
    logs.mkdir(parents=True)
    traces.mkdir()
    env = {ENV: str(traces), "RESTATE_BIND_ADDRESS": f"127.0.0.1:{free_port()}"}
    server = OurRestateServer(root / "data", logs, partitions=2, env=env)
    service = TsService(logs, "h2c", app="bench") if service_kind == "ts" else BenchService(logs, "svc-stages")
    out = []
    try:
        service.start()
        server.process.start()
        register_when_ready(server, service.url)
        with httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=1)) as client:
            for name in handlers:
                for old in traces.glob("stages.*"):
                    os.truncate(old, 0)  # the previous handler's (and the start-up's) events; writers keep appending
                out.append(_measure(client, server.ingress_url, name, calls, warmup, traces))
    finally:
        service.stop()
        server.stop()
    return "\n".join(out)


def _measure(client: httpx.Client, url: str, name: str, calls: int, warmup: int, traces: Path) -> str:
    handler = HANDLERS[name]
    with open(traces / f"stages.client-{os.getpid()}", "w") as marks:
        for i in range(warmup + calls):
            path = handler.path.replace("{key}", f"k{i % handler.keys}" if handler.keys else "")
            measured = i >= warmup
            if measured:
                marks.write(f"{time.monotonic_ns()} {CLIENT_SEND}\n")
            response = client.post(url + path, content=BODY, headers=JSON)
            if measured:
                marks.write(f"{time.monotonic_ns()} {CLIENT_RECEIVE}\n")
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
    found = split_calls(read_events(traces))
    rows, count, total = breakdown(found)
    return markdown(name, rows, count, found, total)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency_stages", description=__doc__)
    p.add_argument("--service", choices=SERVICES, default="ts", help="the benchmark service's SDK (default ts)")
    p.add_argument("--handlers", default="noop,steps3,object", help="comma-separated (default noop,steps3,object)")
    p.add_argument("--calls", type=int, default=400, help="measured sequential calls per handler (default 400)")
    p.add_argument("--warmup", type=int, default=20, help="calls before measuring (default 20)")
    args = p.parse_args(argv)
    handlers = [h.strip() for h in args.handlers.split(",") if h.strip()]
    unknown = [h for h in handlers if h not in HANDLERS]
    if unknown:
        raise SystemExit(f"unknown handler: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="latency-stages-") as tmp:
        print(run(args.service, handlers, max(1, args.calls), max(0, args.warmup), Path(tmp)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
