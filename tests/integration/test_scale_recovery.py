"""2,000 in-flight invocations on an HTTP/1.1 request/response deployment, SIGKILL of the partition, restart:
connections to the deployment stay within the configured limit, a new call is served while the recovered
backlog waits, and every invocation completes (issue 16)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import OurRestateServer, RealRestateServer, ServiceProcess
from tests.support.conn_counter import ConnectionCounter

IN_FLIGHT = 2_000
LIMIT = 32  # worker.invoker.concurrent-invocations-limit (per partition; one partition here)
DEADLINE_S = 60.0


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[OurRestateServer, ServiceProcess, ConnectionCounter]]:
    service = ServiceProcess(tmp_path / "logs", module="scale").start()
    proxy = ConnectionCounter(service.port).start()
    env = {"RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": str(LIMIT)}
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=1, env=env)
    try:
        server.start()
        server.register(f"http://127.0.0.1:{proxy.port}/", use_http_11=True)
        yield server, service, proxy
    finally:
        server.stop()
        proxy.stop()
        service.stop()


def _gate(service: ServiceProcess, action: str, **params: Any) -> dict[str, Any]:
    method = "GET" if action == "stats" else "POST"
    resp = httpx.request(method, f"{service.url}test/{action}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _until(what: str, check: Any, deadline: float) -> None:
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


async def _submit(url: str, n: int) -> float:
    """Sends n one-way `Blocker/hold` invocations; returns the submit rate (requests per second)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        semaphore = asyncio.Semaphore(64)

        async def one(k: int) -> None:
            async with semaphore:
                resp = await client.post(f"{url}/Blocker/hold/send", json=k)
                assert resp.status_code == 202, resp.text

        started = time.monotonic()
        await asyncio.gather(*(one(k) for k in range(n)))
        return n / (time.monotonic() - started)


def _not_completed(server: OurRestateServer) -> int:
    query = {"query": "SELECT count(*) AS n FROM sys_invocation WHERE status != 'completed'"}
    resp = server.client.post(f"{server.admin_url}/query", json=query, headers={"accept": "application/json"})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["rows"][0]["n"])


def test_recovery_of_2000_in_flight_invocations_is_bounded_and_serves_new_calls(
    setup: tuple[OurRestateServer, ServiceProcess, ConnectionCounter],
) -> None:
    server, service, proxy = setup
    deadline = time.monotonic() + DEADLINE_S
    rate = asyncio.run(_submit(server.ingress_url, IN_FLIGHT))
    _until(f"{LIMIT} blocked handlers", lambda: _gate(service, "stats")["blocked"] == LIMIT, deadline)
    assert proxy.peak <= LIMIT, f"{proxy.peak} connections to the deployment (limit {LIMIT})"

    _gate(service, "epoch")  # the handlers blocked now belong to attempts the kill ends
    killed_at = time.monotonic()
    server.kill_partition(0)
    _until("the recovered attempts", lambda: _gate(service, "stats")["blocked"] == LIMIT, deadline)
    recovered_after = time.monotonic() - killed_at

    # every slot is held by a recovered attempt and 1,968 more wait: a new call queues behind them...
    with ThreadPoolExecutor(1) as pool:
        new_call = pool.submit(server.call, "Blocker/quick", 41)
        time.sleep(0.2)  # a chance to be served out of turn (it must not be: no slot is free)
        assert not new_call.done()
        # ...and is the next one launched once a single recovered attempt ends, not after the backlog
        released_at = time.monotonic()
        _gate(service, "release", n=1)
        resp = new_call.result(timeout=max(1.0, deadline - time.monotonic()))
        first_new_call_s = time.monotonic() - released_at
    assert resp.status_code == 200 and resp.json() == 42, resp.text
    assert _gate(service, "stats")["released"] == 1  # the backlog had not drained: 1,999 still waited

    _gate(service, "open")
    _until("every invocation completed", lambda: _not_completed(server) == 0, deadline)
    assert proxy.peak <= LIMIT, f"{proxy.peak} connections to the deployment (limit {LIMIT})"
    print(
        f"\nsubmit {rate:.0f} req/s; recovered attempts running {recovered_after:.2f}s after the kill; "
        f"new call served {first_new_call_s * 1000:.0f} ms after one slot freed; "
        f"connections: peak {proxy.peak}, opened {proxy.total}"
    )


@pytest.mark.parametrize("kind", ["real", "ours"])
def test_ingress_over_its_concurrency_limit_answers_as_the_real_server(kind: str, tmp_path: Path) -> None:
    """ingress.concurrent-api-requests-limit = 1 while a call runs: every route answers 429 at once."""
    service = ServiceProcess(tmp_path / "logs", module="scale").start()
    env = {"RESTATE_INGRESS__CONCURRENT_API_REQUESTS_LIMIT": "1"}
    server_class = RealRestateServer if kind == "real" else OurRestateServer
    server = server_class(tmp_path / "data", tmp_path / "logs", partitions=1, env=env)
    try:
        server.start()
        server.register(service.url, use_http_11=True)
        deadline = time.monotonic() + DEADLINE_S
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.post, f"{server.ingress_url}/Blocker/hold", json=1, timeout=DEADLINE_S)
            _until("the held call", lambda: _gate(service, "stats")["blocked"] == 1, deadline)
            answers = [
                httpx.post(f"{server.ingress_url}/Blocker/quick", json=1, timeout=10),
                httpx.get(f"{server.ingress_url}/restate/health", timeout=10),
            ]
            _gate(service, "open")
            assert held.result(timeout=DEADLINE_S).json() == 1
        for resp in answers:
            assert resp.status_code == 429, resp.text
            assert resp.json() == {
                "code": 429,
                "message": "too many requests, the ingress is overloaded. Retry later.",
                "source": "ingress",
            }
            assert resp.headers["x-restate-error-source"] == "ingress" and "retry-after" not in resp.headers
        assert server.call("Blocker/quick", 1).json() == 2  # room again
    finally:
        server.stop()
        service.stop()
