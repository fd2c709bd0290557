"""The ASGI app in-process: routes, discovery negotiation, and whole invocations over fake receive/send."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

import restate
from restate.protocol import FrameDecoder, decode_message
from restate.sdk.exceptions import RetryableError, TerminalError
from tests.unit.protocol import golden as g
from tests.unit.sdk.vmkit import T, input_cmd, sleep_done, start

svc = restate.Service("Svc")


@svc.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


@svc.handler()
async def nap(ctx: restate.Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return "woke"


@svc.handler()
async def double(ctx: restate.Context, n: int) -> int:
    return await ctx.run_typed("double", lambda: n * 2)


@svc.handler()
async def refuse(ctx: restate.Context) -> None:
    raise TerminalError("nope", 418)


@svc.handler()
async def crash(ctx: restate.Context) -> None:
    raise ValueError("boom")


EVENTS: list[str] = []


@contextlib.asynccontextmanager
async def traced() -> AsyncIterator[None]:
    EVENTS.append("enter")
    yield
    EVENTS.append("exit")


@svc.handler(invocation_context_managers=[traced])
async def twice(ctx: restate.Context, ms: int) -> list[str]:
    """The same durable future awaited by two tasks at once, and again afterwards."""
    timer = ctx.sleep(timedelta(milliseconds=ms))
    await asyncio.gather(timer, timer)
    await timer
    return ["done"]


@svc.handler()
async def later(ctx: restate.Context) -> None:
    raise RetryableError("later", retry_after=timedelta(milliseconds=250))


@svc.handler()
async def tagged(ctx: restate.Context) -> None:
    raise TerminalError("tagged", 400, metadata={"k": "v"})


obj = restate.VirtualObject("Obj", invocation_retry_policy=restate.InvocationRetryPolicy(max_attempts=3))


@obj.handler(kind="shared")
async def peek(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("n", type_hint=int)) or 0


APP = restate.app([svc, obj])
V6 = b"application/vnd.restate.invocation.v6"


class Exchange:
    """Feeds ASGI receive events and collects what the app sends."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.changed.set()

    def push(self, body: bytes, more: bool = True) -> None:
        self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": more})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    def frames(self) -> list[tuple[int, Any]]:
        return [(f.type, decode_message(f)) for f in FrameDecoder().push(self.body)]

    async def until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


def _scope(path: str, method: str = "POST", http_version: str = "2", **headers: bytes) -> dict[str, Any]:
    raw = [(k.replace("_", "-").encode(), v) for k, v in headers.items()]
    return {"type": "http", "path": path, "method": method, "http_version": http_version, "headers": raw}


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 10))


async def _request(path: str, body: bytes = b"", **headers: bytes) -> Exchange:
    ex = Exchange()
    ex.push(body, more=False)
    await APP(_scope(path, **headers), ex.receive, ex.send)
    return ex


def test_health_and_unknown_routes() -> None:
    async def main() -> None:
        health = await _request("/health")
        assert (health.status, health.body) == (200, b'{"status":"ok"}')
        for path in ("/nope", "/invoke/Nope/greet", "/invoke/Svc/nope"):
            assert (await _request(path)).status == 404

    run(main)


@pytest.mark.parametrize(
    ("accept", "version", "status"),
    [
        (b"application/vnd.restate.endpointmanifest.v1+json, application/vnd.restate.endpointmanifest.v4+json", 4, 200),
        (b"application/vnd.restate.endpointmanifest.v5+json", 5, 200),
        (None, 2, 500),  # the retry policy needs v4
        (b"application/vnd.restate.endpointmanifest.v1+json", 0, 415),
    ],
)
def test_discovery_negotiation(accept: bytes | None, version: int, status: int) -> None:
    async def main() -> None:
        ex = await _request("/discover", **({"accept": accept} if accept else {}))
        assert ex.status == status, ex.body
        if status == 200:
            assert ex.headers[b"content-type"] == f"application/vnd.restate.endpointmanifest.v{version}+json".encode()
            manifest = json.loads(ex.body)
            assert (manifest["minProtocolVersion"], manifest["maxProtocolVersion"]) == (5, 7)
            assert [s["name"] for s in manifest["services"]] == ["Svc", "Obj"]
            assert manifest["services"][1]["retryPolicyMaxAttempts"] == 3

    run(main)


def test_protocol_mode_follows_the_http_version() -> None:
    async def main() -> None:
        accept = b"application/vnd.restate.endpointmanifest.v4+json"
        for http_version, mode in (("2", "BIDI_STREAM"), ("1.1", "REQUEST_RESPONSE")):
            ex = Exchange()
            ex.push(b"", more=False)
            await APP(_scope("/discover", "GET", http_version, accept=accept), ex.receive, ex.send)
            assert json.loads(ex.body)["protocolMode"] == mode

    run(main)


def test_request_response_invocation() -> None:
    async def main() -> None:
        ex = await _request("/invoke/Svc/greet", start() + input_cmd(b'"Alice"'), content_type=V6)
        assert ex.status == 200
        assert ex.headers[b"content-type"] == V6
        assert ex.body == g.OUTPUT_HELLO + g.END
        assert ex.sent[-1]["more_body"] is False

    run(main)


def test_unsupported_protocol_version_is_415() -> None:
    async def main() -> None:
        ex = await _request("/invoke/Svc/greet", b"", content_type=b"application/vnd.restate.invocation.v4")
        assert ex.status == 415

    run(main)


def test_bidi_stream_sleep_completed_live() -> None:
    async def main() -> None:
        ex = Exchange()
        ex.push(start() + input_cmd(b"60000"))
        task = asyncio.create_task(APP(_scope("/invoke/Svc/nap", content_type=V6), ex.receive, ex.send))
        await ex.until(lambda: [t for t, _ in ex.frames()] == [T.SLEEP])
        ex.push(sleep_done(1))
        await ex.until(lambda: [t for t, _ in ex.frames()] == [T.SLEEP, T.OUTPUT, T.END])
        assert not task.done()  # the response closes only after the server closed its side
        ex.push(b"", more=False)
        await task
        assert ex.sent[-1]["more_body"] is False

    run(main)


def test_request_response_run_proposes_then_suspends() -> None:
    async def main() -> None:
        ex = await _request("/invoke/Svc/double", start() + input_cmd(b"21"), content_type=V6)
        frames = ex.frames()
        assert [t for t, _ in frames] == [T.RUN, T.PROPOSE_RUN_COMPLETION, T.SUSPENSION]
        assert frames[1][1].value == b"42"

    run(main)


def test_cancellation_ends_with_409() -> None:
    async def main() -> None:
        ex = Exchange()
        ex.push(start() + input_cmd(b"60000"))
        task = asyncio.create_task(APP(_scope("/invoke/Svc/nap", content_type=V6), ex.receive, ex.send))
        await ex.until(lambda: bool(ex.frames()))
        ex.push(g.SIGNAL_CANCEL)
        await ex.until(lambda: ex.body.endswith(g.END))
        assert ex.body.endswith(g.OUTPUT_CANCELLED + g.END)
        ex.push(b"", more=False)
        await task

    run(main)


def test_terminal_error_and_crash() -> None:
    async def main() -> None:
        refused = await _request("/invoke/Svc/refuse", start() + input_cmd(b""), content_type=V6)
        (output, _end) = refused.frames()
        assert (output[1].failure.code, output[1].failure.message) == (418, "nope")
        crashed = await _request("/invoke/Svc/crash", start() + input_cmd(b""), content_type=V6)
        ((msg_type, error),) = crashed.frames()
        assert msg_type == T.ERROR
        assert (error.code, error.message) == (500, "ValueError('boom')")
        assert "Traceback" in error.stacktrace

    run(main)


def test_shared_object_handler_reads_eager_state() -> None:
    async def main() -> None:
        body = start(key="k", state={"n": b"41"}, partial=False) + input_cmd(b"")
        ex = await _request("/invoke/Obj/peek", body, content_type=V6)
        assert [t for t, _ in ex.frames()] == [T.GET_EAGER_STATE, T.OUTPUT, T.END]
        assert ex.frames()[1][1].value.content == b"41"

    run(main)


def test_lifespan() -> None:
    async def main() -> None:
        events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return events.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await APP({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    run(main)


def test_context_managers_and_a_future_awaited_twice() -> None:
    async def main() -> None:
        EVENTS.clear()
        ex = Exchange()
        ex.push(start() + input_cmd(b"10"))
        task = asyncio.create_task(APP(_scope("/invoke/Svc/twice", content_type=V6), ex.receive, ex.send))
        await ex.until(lambda: [t for t, _ in ex.frames()] == [T.SLEEP])
        ex.push(sleep_done(1))
        await ex.until(lambda: ex.body.endswith(g.END))
        assert ex.frames()[1][1].value.content == b'["done"]'
        ex.push(b"", more=False)
        await task
        assert EVENTS == ["enter", "exit"]

    run(main)


def test_retryable_error_and_failure_metadata() -> None:
    async def main() -> None:
        later = await _request("/invoke/Svc/later", start() + input_cmd(b""), content_type=V6)
        ((_, error),) = later.frames()
        assert (error.code, error.message, error.next_retry_delay) == (500, "later", 250)
        tagged = await _request("/invoke/Svc/tagged", start() + input_cmd(b""), content_type=V6)
        failure = tagged.frames()[0][1].failure
        assert (failure.code, [(m.key, m.value) for m in failure.metadata]) == (400, [("k", "v")])

    run(main)
