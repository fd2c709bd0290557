"""A typed ingress client: call and send to handlers from outside Restate, with the handlers' own serdes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx

from restate.sdk.handler import handler_from_callable
from restate.sdk.serde import JsonSerde

__all__ = ["Client", "HttpError", "RestateClient", "RestateClientSendHandle", "create_client"]

O = TypeVar("O")  # noqa: E741 - the official SDK's name


@dataclass
class RestateClientSendHandle:
    """The answer to a send: the new invocation's id and the HTTP status."""

    invocation_id: str
    status_code: int


class HttpError(Exception):
    """The ingress answered with an error status."""

    def __init__(self, status_code: int, message: str, body: str | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body


class Client:
    """Calls handlers through the Restate ingress (`POST /{service}[/{key}]/{handler}[/send]`)."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    async def post(self, service: str, handler: str, content: bytes, key: str | None = None, send: bool = False,
                   delay_ms: int | None = None, idempotency_key: str | None = None,
                   headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
        """POST to the ingress; HttpError for a status >= 400."""
        path = f"{service}/{key}/{handler}" if key is not None else f"{service}/{handler}"
        if send:
            path += "/send" if delay_ms is None else f"/send?delay={delay_ms}ms"
        all_headers = {**self.headers, **(headers or {})}
        if idempotency_key is not None:
            all_headers["idempotency-key"] = idempotency_key
        resp = await self.client.post(path, content=content, headers=all_headers)
        if resp.status_code >= 400:
            raise HttpError(resp.status_code, resp.reason_phrase, resp.text)
        return resp.content

    async def do_call(self, tpe: Any, arg: Any, key: str | None = None, send: bool = False,
                      send_delay: timedelta | None = None, idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        """Call or send to the handler `tpe` (a decorated function), using its input/output serdes."""
        target = handler_from_callable(tpe)
        io = target.handler_io
        hdrs = dict(headers or {})
        if not (io.input_type is not None and io.input_type.is_void):
            hdrs.setdefault("content-type", io.content_type)
        delay = None if send_delay is None else int(send_delay.total_seconds() * 1000)
        body = await self.post(target.service_tag.name, target.name, bytes(io.input_serde.serialize(arg)), key,
                               send or send_delay is not None, delay, idempotency_key, hdrs)  # fmt: skip
        if send or send_delay is not None:
            answer = JsonSerde[dict[str, str]]().deserialize(body) or {}
            return RestateClientSendHandle(answer.get("invocationId", ""), 202)
        return io.output_serde.deserialize(body)

    async def service_call(self, tpe: Any, arg: Any, idempotency_key: str | None = None,
                           headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        """Call a service handler and return its result."""
        return await self.do_call(tpe, arg, idempotency_key=idempotency_key, headers=headers)

    async def service_send(self, tpe: Any, arg: Any, send_delay: timedelta | None = None,
                           idempotency_key: str | None = None,
                           headers: dict[str, str] | None = None) -> RestateClientSendHandle:  # fmt: skip
        """Send to a service handler (optionally delayed)."""
        return await self.do_call(tpe, arg, send=True, send_delay=send_delay, idempotency_key=idempotency_key,
                                  headers=headers)  # type: ignore[no-any-return]  # fmt: skip

    async def object_call(self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None,
                          headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        """Call a virtual object handler for `key`."""
        return await self.do_call(tpe, arg, key, idempotency_key=idempotency_key, headers=headers)

    async def object_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                          idempotency_key: str | None = None,
                          headers: dict[str, str] | None = None) -> RestateClientSendHandle:  # fmt: skip
        """Send to a virtual object handler for `key`."""
        return await self.do_call(tpe, arg, key, True, send_delay, idempotency_key, headers)  # type: ignore[no-any-return]

    async def workflow_call(self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None,
                            headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        """Call a workflow handler for `key`."""
        return await self.object_call(tpe, key, arg, idempotency_key, headers)

    async def workflow_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                            idempotency_key: str | None = None,
                            headers: dict[str, str] | None = None) -> RestateClientSendHandle:  # fmt: skip
        """Send to a workflow handler for `key`."""
        return await self.object_send(tpe, key, arg, send_delay, idempotency_key, headers)

    async def generic_call(self, service: str, handler: str, arg: bytes, key: str | None = None,
                           idempotency_key: str | None = None,
                           headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
        """Call any handler by name with raw bytes."""
        return await self.post(service, handler, arg, key, idempotency_key=idempotency_key, headers=headers)

    async def generic_send(self, service: str, handler: str, arg: bytes, key: str | None = None,
                           send_delay: timedelta | None = None, idempotency_key: str | None = None,
                           headers: dict[str, str] | None = None) -> RestateClientSendHandle:  # fmt: skip
        """Send to any handler by name with raw bytes."""
        delay = None if send_delay is None else int(send_delay.total_seconds() * 1000)
        body = await self.post(service, handler, arg, key, True, delay, idempotency_key, headers)
        answer = JsonSerde[dict[str, str]]().deserialize(body) or {}
        return RestateClientSendHandle(answer.get("invocationId", ""), 202)


RestateClient = Client


@asynccontextmanager
async def create_client(ingress: str | None = None, headers: dict[str, str] | None = None,
                        journal_value_codec: Any = None) -> AsyncIterator[Client]:  # fmt: skip
    """An ingress client for `ingress` (default $RESTATE_INGRESS_URL or http://localhost:8080).

    Example: `async with restate.create_client("http://localhost:8080") as client:
    print(await client.service_call(greet, arg="Alice"))`
    """
    if journal_value_codec is not None:
        raise NotImplementedError("journal value codecs are not supported yet")
    base = ingress or os.environ.get("RESTATE_INGRESS_URL", "http://localhost:8080")
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60.0)) as http:
        yield Client(http, headers)

