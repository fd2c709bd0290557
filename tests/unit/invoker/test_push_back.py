"""Back-pressure from a deployment that keeps fewer HTTP/1.1 connections than are opened: cap and re-queue bound."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from restate.invoker.host_slots import ConnectionCap
from restate.invoker.http1 import Http1Client
from restate.invoker.http_common import TransportError

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def run(coro: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(30):
            await coro

    asyncio.run(bounded())


class KeepingDeployment:
    """An HTTP/1.1 deployment behind a proxy that keeps `keep` connections and closes any other at once
    (as soon as it is accepted); kept ones answer each request once the test releases it, or at once.
    `partial`: the first request's connection sends part of a response head, then closes."""

    def __init__(self, keep: int, *, hold: bool = False, partial: bool = False) -> None:
        self.keep, self.hold, self.partial = keep, hold, partial
        self.kept = 0
        self.peak = 0
        self.accepted = 0
        self.refused = 0
        self.requests = 0
        self.release = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> KeepingDeployment:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.kept >= self.keep:
            self.refused += 1
            writer.close()
            return
        self.kept += 1
        self.peak = max(self.peak, self.kept)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests += 1
                if self.partial:
                    writer.write(b"HTTP/1.1 200")
                    await writer.drain()
                    writer.close()
                    return
                if self.hold:
                    await self.release.wait()
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.kept -= 1
            writer.close()


def test_cap_lowers_to_what_stays_open_and_grows_back_slowly() -> None:
    cap = ConnectionCap(100)
    assert cap.value == 100 and cap.allows(99) and not cap.allows(100)
    cap.pushed_back(64)
    assert cap.value == 64 and cap.allows(63) and not cap.allows(64)
    cap.pushed_back(70)  # a later push-back with more open never raises it
    assert cap.value == 64
    for _ in range(200):
        cap.answered(others_waiting=False)  # no demand above the cap: no growth
    assert cap.value == 64
    for _ in range(63):
        cap.answered(others_waiting=True)
    assert cap.value == 64  # one more connection per ~cap answers, not per answer
    cap.answered(others_waiting=True)
    cap.answered(others_waiting=True)
    assert cap.value == 65
    cap.pushed_back(0)
    assert cap.value == 1  # never below one connection
    small = ConnectionCap(3)
    small.pushed_back(2)
    for _ in range(10):
        small.answered(others_waiting=True)
    assert small.value == 3  # grown back to the limit: the adaptive cap is dropped
    unbounded = ConnectionCap(None)
    assert unbounded.value is None and unbounded.allows(10**6)
    unbounded.pushed_back(5)
    assert unbounded.value == 5


def test_connections_closed_before_answering_are_back_pressure() -> None:
    async def main() -> None:
        async with KeepingDeployment(4, hold=True) as dep:
            client = Http1Client(max_connections=20, connect_timeout=5.0)
            url = f"http://127.0.0.1:{dep.port}/"
            calls = [asyncio.ensure_future(client.request(url, "POST", "/x", [], b"body")) for _ in range(20)]
            async with asyncio.timeout(10):
                while dep.requests < 4 or client.pushed_back < 16:
                    await asyncio.sleep(0.01)
            assert client.connection_cap("127.0.0.1", dep.port) == 4
            dep.release.set()
            results = await asyncio.gather(*calls)
            assert all(head.status == 200 and body == b"ok" for head, body in results)
            assert dep.peak == 4
            # once lowered, the cap holds the pool to what the deployment keeps (+1 probe per round)
            assert client.open_connections("127.0.0.1", dep.port) <= 5
            assert dep.accepted <= 20 + 2
            client.close()

    run(main())


def test_push_back_requeues_are_bounded() -> None:
    async def main() -> None:
        async with KeepingDeployment(0) as dep:
            client = Http1Client(max_connections=8, push_back_requeues=3)
            with pytest.raises(TransportError, match="new connection"):
                await client.request(f"http://127.0.0.1:{dep.port}/", "POST", "/x", [], b"body")
            assert dep.accepted == 4  # the first try and 3 re-queues
            assert client.pushed_back == 3
            client.close()

    run(main())


def test_a_partly_answered_request_fails_as_before() -> None:
    async def main() -> None:
        async with KeepingDeployment(4, partial=True) as dep:
            client = Http1Client(max_connections=8)
            with pytest.raises(TransportError) as err:
                await client.request(f"http://127.0.0.1:{dep.port}/", "POST", "/x", [], b"body")
            assert "new connection" not in str(err.value)
            assert dep.accepted == 1 and client.pushed_back == 0
            client.close()

    run(main())


def test_a_deployment_that_is_down_fails_at_once() -> None:
    async def main() -> None:
        dep = KeepingDeployment(1)
        async with dep:
            port = dep.port
        client = Http1Client(max_connections=8)
        with pytest.raises(TransportError, match="cannot connect"):
            await client.request(f"http://127.0.0.1:{port}/", "POST", "/x", [], b"body")
        assert client.pushed_back == 0
        client.close()

    run(main())
