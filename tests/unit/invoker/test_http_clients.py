"""Tests for the invoker's HTTP/2 pool and HTTP/1.1 client against an in-process hypercorn server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config

from restate.invoker.http1 import Http1Client
from restate.invoker.http2 import Http2Pool, Http2Stream
from restate.invoker.http_common import ResponseHead, TransportError, TransportTimeoutError, parse_base_url

# hypercorn leaves an idle-timeout coroutine unawaited when its connections are torn down at shutdown
pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'TCPServer._idle_timeout' was never awaited")


@dataclass
class Server:
    port: int
    stop: asyncio.Event
    task: asyncio.Task[None]
    log: list[tuple[str, int, str]] = field(default_factory=list)  # (http version, client port, path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


async def read_body(receive: Any) -> bytes | None:
    body = b""
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        body += msg.get("body", b"")
        if not msg.get("more_body", False):
            return body


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams every request chunk straight back as it arrives (bidi); the head goes out first."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return
        more = msg.get("more_body", False)
        await send({"type": "http.response.body", "body": msg.get("body", b""), "more_body": more})
        if not more:
            return


async def fixed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with a description of the request once the whole body arrived."""
    body = await read_body(receive)
    if body is not None:
        test = dict(scope["headers"]).get(b"x-test", b"").decode()
        reply = f"{scope['method']} {scope['path']} {len(body)} {test}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": reply})


async def hang(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await read_body(receive)
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"not found"})


def make_app(log: list[tuple[str, int, str]]) -> Callable[..., Coroutine[Any, Any, None]]:
    routes = {"echo": echo, "fixed": fixed, "hang": hang}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        log.append((scope["http_version"], scope["client"][1], scope["path"]))
        await routes.get(scope["path"].rpartition("/")[2], not_found)(scope, receive, send)

    return app


@contextlib.asynccontextmanager
async def running_server(**options: Any) -> AsyncIterator[Server]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)  # connections queue up until hypercorn accepts them: no readiness polling needed
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.graceful_timeout = 0.2
    for key, value in options.items():
        setattr(config, key, value)
    stop = asyncio.Event()
    log: list[tuple[str, int, str]] = []
    task = asyncio.create_task(serve(make_app(log), config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    server = Server(port, stop, task, log)
    try:
        yield server
    finally:
        stop.set()
        try:
            # hypercorn may raise from its own task group when the graceful timeout cancels a live connection
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        finally:
            task.cancel()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def read_n(stream: Http2Stream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read()
        assert chunk, f"response ended after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


async def read_all(stream: Http2Stream) -> bytes:
    parts = []
    while chunk := await stream.read():
        parts.append(chunk)
    return b"".join(parts)


def test_parse_base_url() -> None:
    t = parse_base_url("http://127.0.0.1:9080/")
    assert (t.host, t.port, t.authority, t.path("/discover")) == ("127.0.0.1", 9080, "127.0.0.1:9080", "/discover")
    assert parse_base_url("http://h/a/b/").path("/invoke/S/h") == "/a/b/invoke/S/h"
    assert parse_base_url("http://h").port == 80
    with pytest.raises(TransportError):
        parse_base_url("https://h/")
    assert ResponseHead(200, [("content-type", "x")]).get("Content-Type") == "x"


def test_bidi_echo(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            stream = await pool.open_stream(server.url, "POST", "/echo", [("content-type", "application/x")])
            stream.write(b"hello ")  # before the response head arrives
            head = await stream.response_head()
            assert head.status == 200 and head.get("content-type") == "application/octet-stream"
            assert await read_n(stream, 6) == b"hello "
            stream.write(b"world")
            assert await read_n(stream, 5) == b"world"
            assert not stream.closed
            stream.end()
            stream.end()  # idempotent
            assert await stream.read() == b""
            assert stream.closed
            with pytest.raises(RuntimeError):
                stream.write(b"late")
            await pool.close()

    run(main())


def test_a_sink_gets_the_body_in_the_read_callback(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            stream.write(b"early ")
            await stream.response_head()
            await until_buffered(stream, 6)
            got: list[tuple[bytes, bool]] = []  # (chunk, delivered outside any task)
            stream.deliver_to(lambda chunk: got.append((chunk, asyncio.current_task() is None)))
            assert got == [(b"early ", False)]  # what was queued goes at once, in the caller's task
            stream.write(b"late")
            stream.end()
            await stream.wait_end()
            assert b"".join(c for c, _ in got) == b"early late"
            assert all(outside for _, outside in got[1:]) and len(got) > 1  # from the protocol callback
            assert await stream.read() == b""  # nothing was left for read()
            await pool.close()

    run(main())


async def until_buffered(stream: Http2Stream, n: int) -> None:
    for _ in range(1000):
        if sum(len(c) for c in stream._chunks) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the echo did not arrive")


def test_open_stream_now_needs_a_ready_connection(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            assert pool.open_stream_now(server.url, "POST", "/echo", []) is None  # no connection yet
            head, _ = await pool.request(server.url, "GET", "/fixed", [])  # one is ready from now on
            stream = pool.open_stream_now(server.url, "POST", "/echo", [])
            assert stream is not None
            stream.write(b"now")
            stream.end()
            assert (await stream.response_head()).status == 200
            assert await read_n(stream, 3) == b"now"
            assert len(pool._all) == 1
            with pytest.raises(TransportError):
                pool.open_stream_now("https://127.0.0.1:1/", "POST", "/x", [])
            await pool.close()
            assert pool.open_stream_now(server.url, "POST", "/echo", []) is None

    run(main())


def test_wait_end_raises_when_the_stream_fails(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            await stream.response_head()
            stream.deliver_to(lambda chunk: None)
            stream.reset()
            with pytest.raises(TransportError, match="reset"):
                await stream.wait_end()
            await pool.close()

    run(main())


def test_request_prefix_headers_and_404(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            head, body = await pool.request(server.url + "prefix/", "POST", "/fixed", [("X-Test", "v1")], b"abc")
            assert head.status == 200 and body == b"POST /prefix/fixed 3 v1"
            head, body = await pool.request(server.url, "GET", "/fixed", [])
            assert body == b"GET /fixed 0 "
            head, body = await pool.request(server.url, "GET", "/nope", [])
            assert (head.status, body) == (404, b"not found")
            assert len(pool._all) == 1
            with pytest.raises(TransportTimeoutError):
                await pool.request(server.url, "POST", "/hang", [], b"x", timeout=0.2)
            head, body = await pool.request(server.url, "GET", "/fixed", [])  # connection still fine
            assert head.status == 200 and len(pool._all) == 1
            await pool.close()

    run(main())


def test_concurrent_streams_share_one_connection(run: Any) -> None:
    async def one(pool: Http2Pool, url: str, i: int) -> None:
        stream = await pool.open_stream(url, "POST", "/echo", [])
        payload = f"stream-{i}-".encode() * (i + 1)
        stream.write(payload)
        assert await read_n(stream, len(payload)) == payload
        stream.write(b"bye")
        stream.end()
        assert await read_all(stream) == b"bye"

    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            await asyncio.gather(*(one(pool, server.url, i) for i in range(pool.max_streams_per_connection)))
            assert len(pool._all) == 1
            assert len({port for _, port, _ in server.log}) == 1
            await pool.close()

    run(main())


@pytest.mark.parametrize(
    ("peer_limit", "own_limit", "streams"),
    [(10, None, 30), (10_000, 4, 10)],
    ids=["the peer's limit (10)", "the pool's own limit (4; default 32)"],
)
def test_a_stream_limit_opens_more_connections(
    run: Any, peer_limit: int, own_limit: int | None, streams: int
) -> None:
    async def one(pool: Http2Pool, url: str, gate: asyncio.Event) -> bytes:
        stream = await pool.open_stream(url, "POST", "/echo", [])
        stream.write(b"x")
        await read_n(stream, 1)
        await gate.wait()  # keep all streams open at once
        stream.end()
        return await read_all(stream)

    async def main() -> None:
        async with running_server(h2_max_concurrent_streams=peer_limit) as server:
            pool = Http2Pool() if own_limit is None else Http2Pool(max_streams_per_connection=own_limit)
            gate = asyncio.Event()
            tasks = [asyncio.create_task(one(pool, server.url, gate)) for _ in range(streams)]
            while len(server.log) < streams:
                await asyncio.sleep(0.01)
            assert len(pool._all) == 3
            assert len({port for _, port, _ in server.log}) == 3
            gate.set()
            assert await asyncio.gather(*tasks) == [b""] * streams
            await pool.close()

    run(main())


def test_large_bodies_flow_control(run: Any) -> None:
    async def main() -> None:
        payload = os.urandom(5 * 1024 * 1024)
        async with running_server() as server:
            pool = Http2Pool()
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            stream.write(payload)
            stream.end()
            assert await read_all(stream) == payload
            # many small writes, read concurrently
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            reader = asyncio.create_task(read_all(stream))
            for i in range(0, len(payload), 65536):
                stream.write(payload[i:i + 65536])
                await asyncio.sleep(0)
            stream.end()
            assert await reader == payload
            head, body = await pool.request(server.url, "POST", "/fixed", [], payload)
            assert body == b"POST /fixed %d " % len(payload)
            await pool.close()

    run(main())


def test_connection_refused(run: Any) -> None:
    async def main() -> None:
        url = f"http://127.0.0.1:{free_port()}/"
        pool = Http2Pool()
        with pytest.raises(TransportError, match="cannot connect"):
            await pool.open_stream(url, "POST", "/echo", [])
        with pytest.raises(TransportError, match="cannot connect"):
            await pool.request(url, "GET", "/discover", [])
        with pytest.raises(TransportError, match="cannot connect"):
            await Http1Client().request(url, "GET", "/discover", [])
        await pool.close()

    run(main())


def test_server_shutdown_mid_stream(run: Any) -> None:
    async def main() -> None:
        pool = Http2Pool()
        async with running_server() as server:
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            stream.write(b"ping")
            assert await read_n(stream, 4) == b"ping"
            server.stop.set()
            with pytest.raises(TransportError, match="connection"):
                await stream.read()
            assert stream.closed
            stream.write(b"more")  # dropped: the failure is reported by read()
            stream.reset()  # harmless after failure
        await pool.close()

    run(main())


def test_connection_loss_then_new_connection(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            streams = []
            for _ in range(3):
                stream = await pool.open_stream(server.url, "POST", "/echo", [])
                stream.write(b"a")
                await read_n(stream, 1)
                streams.append(stream)
            (conn,) = pool._all
            assert conn.transport is not None
            conn.transport.abort()
            for stream in streams:
                with pytest.raises(TransportError, match="connection"):
                    await stream.read()
            head, body = await pool.request(server.url, "GET", "/fixed", [])
            assert head.status == 200
            assert pool._all and conn not in pool._all
            await pool.close()

    run(main())


def test_reset(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool()
            stream = await pool.open_stream(server.url, "POST", "/echo", [])
            stream.write(b"abc")
            await read_n(stream, 3)
            stream.reset()
            stream.reset()
            assert stream.closed
            with pytest.raises(TransportError, match="reset"):
                await stream.read()
            head, _ = await pool.request(server.url, "GET", "/fixed", [])
            assert head.status == 200 and len(pool._all) == 1
            await pool.close()

    run(main())


def test_goaway_after_keep_alive_max_requests(run: Any) -> None:
    async def main() -> None:
        async with running_server(keep_alive_max_requests=5) as server:
            pool = Http2Pool()
            for i in range(20):
                head, body = await pool.request(server.url, "POST", "/fixed", [], b"x" * i)
                assert (head.status, body) == (200, b"POST /fixed %d " % i)
            for _ in range(20):  # bidi streams too
                stream = await pool.open_stream(server.url, "POST", "/echo", [])
                stream.write(b"hi")
                stream.end()
                assert await read_all(stream) == b"hi"
            assert len({port for _, port, _ in server.log}) >= 7
            await pool.close()

    run(main())


def test_connection_rotation(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            pool = Http2Pool(max_requests_per_connection=3)
            for _ in range(10):
                head, _ = await pool.request(server.url, "GET", "/fixed", [])
                assert head.status == 200
            assert len({port for _, port, _ in server.log}) == 4
            assert len(pool._all) == 1
            await pool.close()

    run(main())


def test_http1(run: Any) -> None:
    async def main() -> None:
        async with running_server() as server:
            client = Http1Client()
            head, body = await client.request(server.url, "POST", "/fixed", [("x-test", "h1")], b"hello")
            assert (head.status, body) == (200, b"POST /fixed 5 h1")
            head, body = await client.request(server.url, "GET", "/missing", [])
            assert (head.status, body) == (404, b"not found")
            payload = os.urandom(1024 * 1024)
            response = await client.open(server.url, "POST", "/echo", [("transfer-encoding", "chunked")], payload)
            assert response.head.status == 200
            parts = []
            while chunk := await response.read():
                parts.append(chunk)
            response.close()
            assert b"".join(parts) == payload
            assert {version for version, _, _ in server.log} == {"1.1"}

    run(main())


class _LenientServerSM(h2.connection.H2ConnectionStateMachine):
    """Lets the scripted peer keep serving in-flight streams after its own GOAWAY (stock h2 cannot)."""

    def process_input(self, input_: h2.connection.ConnectionInputs) -> list[h2.events.Event]:
        if (input_ is h2.connection.ConnectionInputs.SEND_GOAWAY
                and self.state is h2.connection.ConnectionState.SERVER_OPEN):
            return []
        return super().process_input(input_)


class ScriptedPeer(asyncio.Protocol):
    """A tiny h2c server answering `ok <stream id> <body length>` once a request ends, with scripted misbehaviour."""

    connections: list[ScriptedPeer] = []
    goaway_on_stream: int | None = None  # on the first connection: GOAWAY(last = this - 2) when this stream opens
    refuse_first = False  # RST_STREAM(REFUSED_STREAM) the very first stream
    window = 65535

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.index = len(self.connections)
        self.connections.append(self)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.conn.state_machine = _LenientServerSM()
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.window})
        self.conn.initiate_connection()
        self.received: dict[int, int] = {}
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for ev in self.conn.receive_data(data):
            sid = getattr(ev, "stream_id", 0)
            if isinstance(ev, h2.events.RequestReceived):
                if self.refuse_first and self.index == 0 and sid == 1:
                    self.conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                elif self.index == 0 and sid == self.goaway_on_stream:
                    self.conn.close_connection(last_stream_id=sid - 2)
                else:
                    self.received[sid] = 0
            elif isinstance(ev, h2.events.DataReceived) and sid in self.received:
                self.received[sid] += len(ev.data)
                self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and sid in self.received:
                self.conn.send_headers(sid, [(":status", "200")])
                self.conn.send_data(sid, f"ok {sid} {self.received.pop(sid)}".encode(), end_stream=True)
        self.transport.write(self.conn.data_to_send())


@contextlib.asynccontextmanager
async def scripted_peer(**behaviour: Any) -> AsyncIterator[tuple[str, list[ScriptedPeer]]]:
    peer: type[ScriptedPeer] = type("Peer", (ScriptedPeer,), {"connections": [], **behaviour})
    server = await asyncio.get_running_loop().create_server(peer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", peer.connections
    finally:
        for conn in peer.connections:
            conn.transport.abort()
        server.close()


def test_graceful_goaway_lets_streams_finish(run: Any) -> None:
    async def main() -> None:
        async with scripted_peer(goaway_on_stream=3) as (url, conns):
            pool = Http2Pool()
            first = await pool.open_stream(url, "POST", "/a", [])
            first.write(b"12345")
            second = await pool.open_stream(url, "POST", "/b", [], end_stream=True)  # refused by GOAWAY(last=1)
            assert await read_all(second) == b"ok 1 0"  # retried as stream 1 of a new connection
            first.end()
            assert (await first.response_head()).status == 200
            assert await read_all(first) == b"ok 1 5"  # finished on the connection that sent GOAWAY
            assert len(conns) == 2
            assert len(pool._all) == 1  # the old connection was closed once its last stream finished
            await pool.close()

    run(main())


def test_refused_stream_is_retried(run: Any) -> None:
    async def main() -> None:
        async with scripted_peer(refuse_first=True) as (url, conns):
            pool = Http2Pool()
            head, body = await pool.request(url, "POST", "/x", [], b"abc")
            assert (head.status, body) == (200, b"ok 3 3")
            assert len(conns) == 1
            await pool.close()

    run(main())


def test_small_peer_window(run: Any) -> None:
    async def main() -> None:
        async with scripted_peer(window=1000) as (url, _):
            pool = Http2Pool()
            stream = await pool.open_stream(url, "POST", "/x", [])
            for _ in range(100):
                stream.write(b"z" * 1000)
            stream.end()
            assert await read_all(stream) == b"ok 1 100000"
            await pool.close()

    run(main())
