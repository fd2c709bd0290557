"""restate.ingress.bare_bad_request: a request uvicorn cannot parse gets hyper's bare 400, not a text/plain body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from restate.ingress.bare_bad_request import BareBadRequestProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(name, default)


async def _unused_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("an unparsable request must not reach the app")


async def feed(data: bytes) -> FakeTransport:
    config = uvicorn.Config(_unused_app, http=BareBadRequestProtocol, lifespan="off", log_level="critical")
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Wed, 02 Dec 2026 05:50:49 GMT")]
    protocol = BareBadRequestProtocol(config=config, server_state=state, app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(data)
    return transport


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /restate/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /restate/health HTTP/1.1\r\nHost x\r\n\r\n",
        b"POST /Greeter/greet HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"GET /rest\x00ate/health HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_unparsable_requests_get_a_bare_400_and_the_connection_closes(request_bytes: bytes) -> None:
    transport = asyncio.run(feed(request_bytes))
    assert transport.data == (
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n"
        b"date: Wed, 02 Dec 2026 05:50:49 GMT\r\n\r\n"
    )  # what restate-server 1.7.12 answers to each of these
    assert transport.closed
