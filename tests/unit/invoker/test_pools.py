"""The invoker's connection pools against real local sockets: keep-alive reuse, bounds, stale connections, back-off."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import h11
import pytest
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config

from restate.invoker import http1
from restate.invoker.host_slots import ConnectBackoff
from restate.invoker.http1 import Http1Client
from restate.invoker.http2 import Http2Pool
from restate.invoker.http_common import TransportError
from tests.unit.invoker.test_http_clients import free_port

pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'TCPServer._idle_timeout' was never awaited")
BOUND = 10.0  # seconds before a wait counts as a hang


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def runner(coro: Coroutine[Any, Any, None]) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(60):
                await coro

        with asyncio.Runner(loop_factory=factory) as r:
            r.run(bounded())

    return runner


class Deployment:
    """A hypercorn server whose /gate (and /gate2) requests wait until the test opens that gate; it records
    each request's client port (one per connection)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gates = {"/gate": self.gate, "/gate2": asyncio.Event()}
        self.ports: list[int] = []
        self.url = ""

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (msg := await receive())["type"] != "lifespan.shutdown":
                await send({"type": msg["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.ports.append(scope["client"][1])
        while (await receive()).get("more_body"):
            pass
        if scope["path"] in self.gates:
            await self.gates[scope["path"]].wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def until(self, requests: int) -> None:
        async with asyncio.timeout(BOUND):
            while len(self.ports) < requests:
                await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def deployment() -> AsyncIterator[Deployment]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    dep = Deployment()
    dep.url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.graceful_timeout = 0.2
    stop = asyncio.Event()
    task = asyncio.create_task(serve(dep.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        yield dep
    finally:
        for gate in dep.gates.values():
            gate.set()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        task.cancel()


def test_http1_reuses_one_kept_alive_connection(run: Any) -> None:
    async def main() -> None:
        async with deployment() as dep:
            client = Http1Client(max_connections=4)
            for _ in range(20):
                head, body = await client.request(dep.url, "POST", "/fixed", [], b"x")
                assert (head.status, body) == (200, b"ok")
            assert len(set(dep.ports)) == 1  # before the pool: 20 connections
            assert client.open_connections("127.0.0.1", int(dep.url.rsplit(":", 1)[1].rstrip("/"))) == 1
            client.close()

    run(main())


def test_http1_bound_makes_requests_wait_for_a_connection(run: Any) -> None:
    async def main() -> None:
        async with deployment() as dep:
            client = Http1Client(max_connections=3)
            calls = [asyncio.create_task(client.request(dep.url, "POST", "/gate", [], b"x")) for _ in range(12)]
            await dep.until(3)
            port = int(dep.url.rsplit(":", 1)[1].rstrip("/"))
            assert client.open_connections("127.0.0.1", port) == 3
            assert client._hosts[("127.0.0.1", port)].waiting == 9  # back-pressure, not 9 more sockets
            dep.gate.set()
            results = await asyncio.wait_for(asyncio.gather(*calls), BOUND)
            assert all(body == b"ok" for _, body in results)
            assert len(set(dep.ports)) == 3 and client.open_connections("127.0.0.1", port) == 3
            client.close()
            assert client.open_connections("127.0.0.1", port) == 0

    run(main())


def test_http1_connection_closed_while_idle_is_replaced(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that closes a kept-alive connection just before it is reused: the request goes out again
    on a new connection instead of failing the attempt."""
    accepted: list[int] = []

    async def serve_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.EndOfMessage):
                break
        writer.write(conn.send(h11.Response(status_code=200, headers=[("content-length", "2")])))
        writer.write(conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage()))
        await writer.drain()
        writer.close()  # without "connection: close": the client keeps it as idle

    async def main() -> None:
        server = await asyncio.start_server(serve_once, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        client = Http1Client(max_connections=1)
        assert (await client.request(url, "POST", "/a", [], b"x"))[1] == b"ok"
        monkeypatch.setattr(http1._Conn, "alive", lambda self: True)  # closed, but not noticed yet
        assert (await client.request(url, "POST", "/b", [], b"x"))[1] == b"ok"
        assert len(accepted) == 2
        client.close()
        server.close()

    run(main())


def test_http1_connect_failures_back_off(run: Any) -> None:
    async def main() -> None:
        client = Http1Client()
        url = f"http://127.0.0.1:{free_port()}/"
        with pytest.raises(TransportError, match="cannot connect"):
            await client.request(url, "POST", "/a", [], b"x")
        with pytest.raises(TransportError, match="not retrying the connection"):
            await client.request(url, "POST", "/a", [], b"x")  # no second connect within the back-off
        client.close()

    run(main())


def test_http2_pool_is_bounded_and_full_means_wait(run: Any) -> None:
    async def main() -> None:
        async with deployment() as dep:
            pool = Http2Pool(max_streams_per_connection=2, max_connections=2)
            calls = [asyncio.create_task(pool.request(dep.url, "POST", "/gate", [], b"x")) for _ in range(9)]
            await dep.until(4)
            port = int(dep.url.rsplit(":", 1)[1].rstrip("/"))
            assert pool.open_connections("127.0.0.1", port) == 2
            assert pool._hosts[("127.0.0.1", port)].waiting == 5
            dep.gate.set()
            results = await asyncio.wait_for(asyncio.gather(*calls), BOUND)
            assert all(body == b"ok" for _, body in results)
            assert len(set(dep.ports)) == 2
            await pool.close()
            assert pool.open_connections("127.0.0.1", port) == 0

    run(main())


def test_http2_connect_failures_back_off(run: Any) -> None:
    async def main() -> None:
        pool = Http2Pool()
        url = f"http://127.0.0.1:{free_port()}/"
        with pytest.raises(TransportError, match="cannot connect"):
            await pool.open_stream(url, "POST", "/a", [])
        with pytest.raises(TransportError, match="not retrying the connection"):
            await pool.open_stream(url, "POST", "/a", [])
        assert pool.open_connections("127.0.0.1", int(url.rsplit(":", 1)[1].rstrip("/"))) == 0
        await pool.close()

    run(main())


def test_http2_streams_waiting_for_room_all_use_a_new_connection(run: Any) -> None:
    """One connection allowed, retired after 2 streams: when it closes, every stream waiting for room goes
    on its successor once that is ready, not only those woken by the close."""

    async def main() -> None:
        async with deployment() as dep:
            pool = Http2Pool(max_connections=1, max_requests_per_connection=2)
            port = int(dep.url.rsplit(":", 1)[1].rstrip("/"))
            first = asyncio.create_task(pool.request(dep.url, "POST", "/fixed", [], b"x"))
            held = asyncio.create_task(pool.request(dep.url, "POST", "/gate", [], b"x"))
            await asyncio.wait_for(first, BOUND)
            await dep.until(2)  # the connection is retired (2 streams) and still open for `held`
            long_lived = [asyncio.create_task(pool.request(dep.url, "POST", "/gate2", [], b"x")) for _ in range(2)]
            quick = asyncio.create_task(pool.request(dep.url, "POST", "/fixed", [], b"x"))
            async with asyncio.timeout(BOUND):
                while pool._hosts[("127.0.0.1", port)].waiting < 3:
                    await asyncio.sleep(0.005)
            dep.gate.set()  # `held` ends, the connection closes: the waiters open and share a new one
            assert (await asyncio.wait_for(quick, BOUND))[1] == b"ok"
            assert not any(task.done() for task in long_lived)
            assert (await asyncio.wait_for(held, BOUND))[1] == b"ok"
            dep.gates["/gate2"].set()
            assert all(body == b"ok" for _, body in await asyncio.wait_for(asyncio.gather(*long_lived), BOUND))
            assert pool.open_connections("127.0.0.1", port) <= 1  # never more than one at a time
            await pool.close()

    run(main())


def test_connect_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = ConnectBackoff(initial_s=0.1, max_s=0.3)
    backoff.check("h:1", 0.0)  # nothing failed: no wait
    backoff.failed("cannot connect to h:1: refused", 0.0)
    with pytest.raises(TransportError, match="cannot connect to h:1: refused"):
        backoff.check("h:1", 0.05)
    backoff.check("h:1", 0.1)
    delays = []
    for now in (1.0, 2.0, 3.0):
        backoff.failed("refused", now)
        with pytest.raises(TransportError, match=r"another (\d+) ms") as err:
            backoff.check("h:1", now)
        delays.append(int(str(err.value).rsplit("another ", 1)[1].split(" ")[0]))
    assert delays == [200, 300, 300]  # 0.2 s, then capped at 0.3 s
    backoff.succeeded()
    backoff.check("h:1", 3.0)
    backoff.failed("refused", 4.0)
    with pytest.raises(TransportError, match="another 100 ms"):
        backoff.check("h:1", 4.0)  # back to the initial delay
