"""Scale benchmark of the invoker, ours and the real server side by side (issue 16, parts a and d).

N invocations whose handlers hold their attempt open (tests/services/scale.py) on an HTTP/1.1
request/response deployment (or, with --bidi, an h2c bidirectional one), behind a proxy that counts
the connections the server holds to it, with worker.invoker.concurrent-invocations-limit = LIMIT on
both servers. Per round and server:
  submit_rps       one-way submit rate of the N invocations (64 concurrent clients)
  peak_conns       the most connections the server held open to the deployment at once
  opened_conns     connections it opened in total (a pool reuses them)
  restart_s        SIGKILL of the whole server, start again: time until health answers
  first_new_s      after the restart, with every slot held by recovered attempts and the gate opened
                   (the handlers return at once): time until a NEW call succeeds
  drain_s          time until all N have completed
Run: .venv/bin/python -m bench.scale_invoker [--n 2000] [--limit 32] [--rounds 1] [--servers ours,real] [--bidi]

`sleeping_round` (the `scale` section of `make bench`, part a): N invocations of a handler sleeping durably
for an hour, default limits, then SIGKILL of the whole server and restart; see its docstring.

With --slow (part d): a deployment that keeps only 64 connections at once (the proxy closes any other at
once, as Node's server.maxConnections) and answers each call after 1 s; the servers keep their default
limits; N one-way invocations are submitted. Figures: submit_rps, throughput_rps (N / time until all
completed), peak_conns, opened_conns (refused ones included) and refused_conns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procstats import RssSampler, tree_sockets
from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.conn_counter import ConnectionCounter

DEADLINE_S = 300.0
POLL_S = 0.02
SQL_POLL_S = 0.25  # a count over every invocation costs the server: poll it less often
SUBMIT_CLIENTS = 64
MiB = 1024 * 1024
SLOW_MS = 1000  # part (d): 64 connections x 1 s = 64 calls per second, below the submit rate


def _gate(service: ServiceProcess, action: str) -> dict[str, Any]:
    method = "GET" if action == "stats" else "POST"
    resp = httpx.request(method, f"{service.url}test/{action}", timeout=10)
    resp.raise_for_status()
    result: dict[str, Any] = resp.json()
    return result


def _until(what: str, check: Any, deadline: float, poll_s: float = POLL_S) -> None:
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll_s)


async def _submit(url: str, n: int, path: str = "Blocker/hold", body: int | None = None) -> float:
    limits = httpx.Limits(max_connections=SUBMIT_CLIENTS, max_keepalive_connections=SUBMIT_CLIENTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        semaphore = asyncio.Semaphore(SUBMIT_CLIENTS)

        async def one(k: int) -> None:
            async with semaphore:
                resp = await client.post(f"{url}/{path}/send", json=k if body is None else body)
                if resp.status_code != 202:
                    raise RuntimeError(f"submit answered {resp.status_code}: {resp.text}")

        started = time.monotonic()
        await asyncio.gather(*(one(k) for k in range(n)))
        return n / (time.monotonic() - started)


def _count(server: RestateServer, where: str) -> int:
    query = {"query": f"SELECT count(*) AS n FROM sys_invocation WHERE {where}"}
    resp = server.client.post(f"{server.admin_url}/query", json=query, headers={"accept": "application/json"})
    resp.raise_for_status()
    return int(resp.json()["rows"][0]["n"])


def _not_completed(server: RestateServer) -> int:
    return _count(server, "status != 'completed'")


def _all_suspended(server: RestateServer, n: int) -> bool:
    """All `n` invocations suspended; False while the server cannot answer yet (just restarted)."""
    try:
        return _count(server, "status = 'suspended'") >= n
    except (httpx.HTTPError, KeyError, IndexError, ValueError):
        return False


def _first_call(server: RestateServer, deadline: float) -> None:
    """Calls Blocker/quick until one answers 200 (a new invocation, served while any backlog drains)."""
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            resp = server.client.post(f"{server.ingress_url}/Blocker/quick", json=1, timeout=30)
            if resp.status_code == 200:
                return
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(POLL_S)
    raise TimeoutError(f"no new call succeeded after the restart (last: {last})")


def sleeping_round(kind: str, n: int, base: Path, bidi: bool = False, inactivity: str = "1s") -> dict[str, float]:
    """N one-way invocations of Sleeper/hour (a durable sleep of an hour), default limits, 2 partitions.

    Figures: submit_rps; suspended_s (from the first submit until all N are suspended); SIGKILL of the whole
    server, start again: restart_s (until health answers), first_new_s (until a NEW call succeeds) and
    resuspended_s (until all N count as suspended again), each from the restart; idle_sockets (after
    registration) and peak_sockets / peak_pss_mb / peak_rss_mb of the server's process tree over the whole
    scenario. Both servers get worker.invoker.inactivity-timeout = `inactivity`: on a bidi deployment the SDK
    suspends only once the server half-closes the stream, after that timeout (the default minute would make
    N = 50,000 take N / limit minutes).
    """
    logs = base / "logs"
    service = ServiceProcess(logs, module="scale", name=f"svc-{kind}").start()
    env = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": inactivity}
    server_class = OurRestateServer if kind == "ours" else RealRestateServer
    server = server_class(base / "data", logs, partitions=2, env=env)
    sampler = RssSampler(lambda: server.process.pid if server.process.alive() else None, 0.25, sockets=True)
    figures: dict[str, float] = {}
    try:
        server.start()
        server.register(service.url, use_http_11=not bidi)
        figures["idle_sockets"] = tree_sockets(server.process.pid)
        sampler.start()
        deadline = time.monotonic() + DEADLINE_S + n / 100  # 50,000: 13 minutes at most
        started = time.monotonic()
        figures["submit_rps"] = asyncio.run(_submit(server.ingress_url, n, "Sleeper/hour"))
        _until(f"{n} suspended", lambda: _all_suspended(server, n), deadline, SQL_POLL_S)
        figures["suspended_s"] = time.monotonic() - started
        server.kill()
        restarted = time.monotonic()
        server.start()
        figures["restart_s"] = time.monotonic() - restarted
        _first_call(server, deadline)
        figures["first_new_s"] = time.monotonic() - restarted
        _until(f"{n} suspended again", lambda: _all_suspended(server, n), deadline, SQL_POLL_S)
        figures["resuspended_s"] = time.monotonic() - restarted
        sampler.sample_now()
        figures["peak_sockets"] = sampler.peak_sockets
        figures["peak_pss_mb"] = sampler.peak.pss / MiB
        figures["peak_rss_mb"] = sampler.peak.rss / MiB
    finally:
        sampler.stop()
        server.stop()
        service.stop()
    return figures


def one_round(kind: str, n: int, limit: int, base: Path, bidi: bool = False) -> dict[str, float]:
    logs = base / "logs"
    service = ServiceProcess(logs, module="scale", name=f"svc-{kind}").start()
    proxy = ConnectionCounter(service.port).start()
    env = {"RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": str(limit)}
    server_class = OurRestateServer if kind == "ours" else RealRestateServer
    server = server_class(base / "data", logs, partitions=2, env=env)
    figures: dict[str, float] = {}
    try:
        server.start()
        server.register(f"http://127.0.0.1:{proxy.port}/", use_http_11=not bidi)
        deadline = time.monotonic() + DEADLINE_S
        figures["submit_rps"] = asyncio.run(_submit(server.ingress_url, n))
        _until("the first attempts", lambda: _gate(service, "stats")["blocked"] >= min(n, limit) // 2, deadline)
        _gate(service, "epoch")
        server.kill()
        started = time.monotonic()
        server.start()
        figures["restart_s"] = time.monotonic() - started
        _until("recovered attempts", lambda: _gate(service, "stats")["blocked"] > 0, deadline)
        _gate(service, "open")
        opened = time.monotonic()
        resp = server.call("Blocker/quick", 1)
        figures["first_new_s"] = time.monotonic() - opened
        if resp.status_code != 200:
            raise RuntimeError(f"the new call answered {resp.status_code}: {resp.text}")
        _until("every invocation completed", lambda: _not_completed(server) == 0, deadline)
        figures["drain_s"] = time.monotonic() - opened
        figures["peak_conns"] = proxy.peak
        figures["opened_conns"] = proxy.total
    finally:
        server.stop()
        proxy.stop()
        service.stop()
    return figures


def slow_round(kind: str, n: int, base: Path, bidi: bool = False) -> dict[str, float]:
    """Part (d): a deployment keeping 64 connections at most, 1 s per call; default limits."""
    logs = base / "logs"
    service = ServiceProcess(logs, module="scale", name=f"svc-{kind}").start()
    proxy = ConnectionCounter(service.port, max_accepted=64).start()
    server_class = OurRestateServer if kind == "ours" else RealRestateServer
    server = server_class(base / "data", logs, partitions=2)
    figures: dict[str, float] = {}
    try:
        server.start()
        server.register(f"http://127.0.0.1:{proxy.port}/", use_http_11=not bidi)
        deadline = time.monotonic() + DEADLINE_S
        started = time.monotonic()
        figures["submit_rps"] = asyncio.run(_submit(server.ingress_url, n, "Blocker/slow", SLOW_MS))
        _until("every invocation completed", lambda: _not_completed(server) == 0, deadline)
        figures["throughput_rps"] = n / (time.monotonic() - started)
        figures["peak_conns"] = proxy.peak
        figures["opened_conns"] = proxy.total
        figures["refused_conns"] = proxy.refused
    finally:
        server.stop()
        proxy.stop()
        service.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--servers", default="ours,real")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--bidi", action="store_true", help="an h2c bidirectional deployment instead of HTTP/1.1")
    parser.add_argument("--slow", action="store_true", help="part (d): a deployment serving 64 connections, 50 ms")
    args = parser.parse_args()
    kinds = args.servers.split(",")
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in kinds:  # alternating rounds
            with tempfile.TemporaryDirectory(prefix=f"scale-invoker-{kind}-") as tmp:
                if args.slow:
                    figures = slow_round(kind, args.n, Path(tmp), args.bidi)
                else:
                    figures = one_round(kind, args.n, args.limit, Path(tmp), args.bidi)
            print(f"round {r + 1} {kind}: " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()), flush=True)
            results[kind].append(figures)
    keys = list(next(iter(results.values()))[0])
    mode = "h2c bidi" if args.bidi else "HTTP/1.1 request/response"
    setup = "at most 64 connections kept, 1 s per call, default limits" if args.slow else f"limit={args.limit}"
    print(f"\nN={args.n}, {setup}, {mode} (medians over {args.rounds} round(s))")
    print("figure".ljust(14) + "".join(kind.rjust(10) for kind in kinds) + ("     ratio" if len(kinds) == 2 else ""))
    for key in keys:
        medians = [statistics.median(f[key] for f in results[kind]) for kind in kinds]
        ratio = f"{medians[0] / medians[1]:10.2f}" if len(kinds) == 2 and medians[1] else ""
        print(key.ljust(14) + "".join(f"{m:10.3g}" for m in medians) + ratio)
    if args.json is not None:
        args.json.write_text(json.dumps({"n": args.n, "limit": args.limit, "results": results}, indent=2))


if __name__ == "__main__":
    main()
