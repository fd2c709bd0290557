"""The `scale` section's SQL, timer-restart and eager-state figures, ours vs the real server, alternating.

(b) SQL over many stored invocations: `COUNT(*)`, counts by status, a filtered query with a LIMIT, a filtered
    count and the web UI's newest-first list, timed at each size (`--sizes`, default 10,000 / 50,000 /
    100,000 completed invocations of `Bench/noop`);
(c) restart with many pending timers (`--timers`, default 10,000 / 50,000 one-way sends delayed by an hour):
    SIGKILL of the whole server, then the time to health and to the first successful call;
(f) a handler reading one state key of an object that holds 10,000 keys (`BenchObject/<key>/getset`, the
    other keys set through the admin API): sequential call latency (each call checks the value it read).

    python -m bench.scale_sql [--sizes 10000,50000,100000] [--timers 10000,50000] [--servers ours,real]
                              [--rounds 1] [--json out.json]      (make bench-scale-sql)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.procstats import tree_cpu_seconds
from bench.runner import BenchService
from tests.support import OurRestateServer, RealRestateServer, RestateServer

QUERIES = {
    "count": "SELECT COUNT(*) FROM sys_invocation",
    "count_by_status": "SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status",
    "filtered_limit": "SELECT id, status FROM sys_invocation WHERE target_service_name = 'Bench' LIMIT 10",
    "filtered_count": "SELECT COUNT(*) FROM sys_invocation WHERE target_service_name = 'Bench' "
    "AND target_handler_name = 'noop'",
    "newest_250": "SELECT ss.id AS id FROM sys_invocation_status ss ORDER BY ss.created_at DESC LIMIT 250",
}
QUERY_RUNS = 10  # per query and size: the median wall time and the mean server CPU are the figures
SEND_CONCURRENCY = 64
STATE_KEYS = 10_000
STATE_CALLS = 200
DEADLINE_S = 600.0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _send_many(ingress: str, n: int, delay: str | None = None) -> None:
    """`n` one-way sends to Bench/noop (accepted when stored; they complete in the background)."""
    path = f"{ingress}/Bench/noop/send" + (f"?delay={delay}" if delay else "")
    limits = httpx.Limits(max_connections=SEND_CONCURRENCY)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        remaining = iter(range(n))

        async def worker() -> None:
            for _ in remaining:
                for _attempt in range(20):
                    try:
                        resp = await client.post(path, content=b"1",
                                                 headers={"content-type": "application/json"})  # fmt: skip
                        if resp.status_code == 202:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("a send was refused 20 times")

        await asyncio.gather(*(worker() for _ in range(SEND_CONCURRENCY)))


def query(client: httpx.Client, admin: str, sql: str) -> tuple[float, list[dict[str, Any]]]:
    """(seconds, rows) of one `POST /query`."""
    t0 = time.perf_counter()
    resp = client.post(f"{admin}/query", json={"query": sql}, headers={"accept": "application/json"}, timeout=120.0)
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise RuntimeError(f"{sql}: HTTP {resp.status_code} {resp.text[:300]}")
    rows: list[dict[str, Any]] = resp.json()["rows"]
    return elapsed, rows


def _wait(probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {DEADLINE_S:.0f}s")
        time.sleep(0.5)


def sql_figures(server: RestateServer, sizes: list[int]) -> dict[str, float]:
    figures: dict[str, float] = {}
    client = server.client
    stored = 0
    for size in sizes:
        asyncio.run(_send_many(server.ingress_url, size - stored))
        stored = size

        def completed(target: int = size) -> bool:
            _, rows = query(client, server.admin_url, "SELECT COUNT(*) AS n FROM sys_invocation "
                                                      "WHERE status = 'completed'")  # fmt: skip
            return int(rows[0]["n"]) >= target

        _wait(completed, f"{size} invocations completed")
        for name, sql in QUERIES.items():
            before = tree_cpu_seconds(server.process.pid)
            times = [query(client, server.admin_url, sql)[0] for _ in range(QUERY_RUNS)]
            cpu = (tree_cpu_seconds(server.process.pid) - before) / QUERY_RUNS
            figures[f"sql.{name}.{size}"] = statistics.median(times)
            figures[f"sql_first.{name}.{size}"] = times[0]  # ours: may build the kept counts / creation order
            # the server's CPU per query (mean over the runs: the clock ticks are 10 ms), steadier than the wall
            # time on a machine that others load too
            figures[f"sql_cpu.{name}.{size}"] = cpu
            wall_ms, cpu_ms = statistics.median(times) * 1000, cpu * 1000
            _say(f"    {name} @ {size}: {wall_ms:.1f} ms, server cpu {cpu_ms:.0f} ms")
    return figures


def state_figures(server: RestateServer, keys: int = STATE_KEYS, calls: int = STATE_CALLS) -> dict[str, float]:
    """p50 / p90 latency of a call reading one key of an object holding `keys` keys (`calls` calls)."""
    client = server.client
    state = {f"k{i}": list(b"1") for i in range(keys)}
    state["n"] = list(b"0")
    resp = client.post(f"{server.admin_url}/services/BenchObject/state", json={"object_key": "big", "new_state": state})
    if resp.status_code not in (200, 202):
        raise RuntimeError(f"setting the state: HTTP {resp.status_code} {resp.text[:300]}")
    url = f"{server.ingress_url}/BenchObject/big/getset"
    headers = {"content-type": "application/json"}
    _wait(lambda: client.post(url, content=b"1", headers=headers).status_code == 200, "the first call")
    times = []
    expected = int(client.post(url, content=b"1", headers=headers).json())
    for _ in range(calls):
        t0 = time.perf_counter()
        resp = client.post(url, content=b"1", headers=headers)
        times.append(time.perf_counter() - t0)
        expected += 1
        if resp.status_code != 200 or resp.json() != expected:
            raise RuntimeError(f"getset: HTTP {resp.status_code} {resp.text[:300]} (expected {expected})")
    times.sort()
    return {"state10k.p50_s": times[len(times) // 2], "state10k.p90_s": times[int(len(times) * 0.9)]}


def timer_figures(server: RestateServer, sizes: list[int]) -> dict[str, float]:
    """Per size: SIGKILL with that many invocations delayed by an hour, then time to health / first call."""
    figures: dict[str, float] = {}
    stored = 0
    for size in sizes:
        asyncio.run(_send_many(server.ingress_url, size - stored, delay="1h"))
        stored = size
        server.kill()
        t0 = time.monotonic()
        server.start()
        figures[f"timers.restart_health_s.{size}"] = time.monotonic() - t0
        _wait(lambda: _ok(server), "the first call after the restart")
        figures[f"timers.restart_first_call_s.{size}"] = time.monotonic() - t0
        _say(f"    restart with {size} timers: health {figures[f'timers.restart_health_s.{size}']:.2f} s, "
             f"first call {figures[f'timers.restart_first_call_s.{size}']:.2f} s")  # fmt: skip
    return figures


def _ok(server: RestateServer) -> bool:
    url = f"{server.ingress_url}/Bench/noop"
    try:
        return server.client.post(url, content=b"1", headers={"content-type": "application/json"}).status_code == 200
    except httpx.HTTPError:
        return False


def with_server(kind: str, log_dir: Path, work: Callable[[RestateServer], dict[str, float]]) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix=f"scale-sql-{kind}-"))
    cls = OurRestateServer if kind == "ours" else RealRestateServer
    server = cls(data / "data", log_dir, partitions=2)
    service = BenchService(log_dir, name=f"svc-scale-sql-{kind}")
    service.start()
    try:
        server.start()
        try:
            server.register(service.url)
            return work(server)
        finally:
            server.stop()
    finally:
        service.stop()
        shutil.rmtree(data, ignore_errors=True)


def one_round(
    kind: str,
    sizes: list[int],
    timers: list[int],
    log_dir: Path,
    state_keys: int = STATE_KEYS,
    state_calls: int = STATE_CALLS,
) -> dict[str, float]:
    """(f) with `state_keys` keys (0: none), (b) at `sizes`, then (c) with `timers` on a second server."""

    def state_and_sql(server: RestateServer) -> dict[str, float]:
        figures = state_figures(server, state_keys, state_calls) if state_keys else {}
        if state_keys:
            _say(f"    state10k p50 {figures['state10k.p50_s'] * 1000:.2f} ms")
        if sizes:
            figures.update(sql_figures(server, sizes))
        return figures

    figures = with_server(kind, log_dir, state_and_sql) if state_keys or sizes else {}
    if timers:
        figures.update(with_server(kind, log_dir, lambda server: timer_figures(server, timers)))
    return figures


def _stop_on_sigterm() -> None:
    """SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so every server and service started is stopped."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.scale_sql", description=__doc__)
    p.add_argument("--sizes", default="10000,50000,100000", help="stored invocations for the SQL figures ('' none)")
    p.add_argument("--timers", default="10000,50000", help="pending timers for the restart figures ('' none)")
    p.add_argument("--servers", default="ours,real")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--json", type=Path, help="write every round's figures here")
    args = p.parse_args(argv)
    _stop_on_sigterm()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    timers = sorted(int(s) for s in args.timers.split(",") if s)
    log_dir = Path(tempfile.mkdtemp(prefix="scale-sql-logs-"))
    rounds: dict[str, list[dict[str, float]]] = {}
    for index in range(args.rounds):
        for kind in args.servers.split(","):
            _say(f"round {index + 1}: {kind}")
            rounds.setdefault(kind, []).append(one_round(kind, sizes, timers, log_dir))
    summary = {kind: {key: statistics.median(r[key] for r in found) for key in found[0]}
               for kind, found in rounds.items()}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "median": summary}, indent=1))
    keys = list(next(iter(summary.values())))
    print(f"{'figure':40} " + " ".join(f"{k:>10}" for k in summary) + ("      ratio" if len(summary) == 2 else ""))
    for key in keys:
        values = [summary[k].get(key) for k in summary]
        line = f"{key:40} " + " ".join(f"{v * 1000:>8.1f}ms" if v is not None else f"{'-':>10}" for v in values)
        if len(values) == 2 and values[0] and values[1]:
            line += f" {values[0] / values[1]:>9.2f}x"
        print(line)


if __name__ == "__main__":
    main()
