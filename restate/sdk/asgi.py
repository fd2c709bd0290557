"""The ASGI application: /discover, /invoke/{service}/{handler} and /health, for any ASGI server."""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal

from restate.sdk.discovery import manifest_json, negotiate_manifest_version
from restate.sdk.exceptions import DisconnectedException
from restate.sdk.handler import Handler
from restate.sdk.otel import SdkSpans
from restate.sdk.server_context import ServerInvocationContext
from restate.sdk.server_io import AttemptIO, Receive, Send
from restate.sdk.service import ServiceBase
from restate.sdk.vm import VM

__all__ = ["SDK_VERSION", "Endpoint", "app", "asgi_app"]

logger = logging.getLogger("restate.sdk")
SDK_VERSION = "0.1.0"
_SERVER_HEADER = (b"x-restate-server", f"restate-sdk-python-pure/{SDK_VERSION}".encode())
Scope = MutableMapping[str, Any]
ProtocolChoice = Literal["bidi", "request_response"]


class Endpoint:
    """A set of services served by one ASGI app (the official SDK's builder API)."""

    def __init__(self) -> None:
        self.services: dict[str, ServiceBase] = {}
        self.protocol: ProtocolChoice | None = None
        self.identity_keys: list[str] = []
        self.spans: SdkSpans | None = None  # opt-in OpenTelemetry spans (app(..., tracer=...))

    def bind(self, *services: ServiceBase) -> Endpoint:
        """Add services (ValueError on duplicate names or non-services)."""
        for service in services:
            if not isinstance(service, ServiceBase):
                raise ValueError(f"Invalid service type {service!r}")
            if service.name in self.services:
                raise ValueError(f"Service {service.name} already exists")
            self.services[service.name] = service
        return self

    def streaming_protocol(self) -> Endpoint:
        """Always advertise BIDI_STREAM (needs HTTP/2)."""
        self.protocol = "bidi"
        return self

    def request_response_protocol(self) -> Endpoint:
        """Always advertise REQUEST_RESPONSE."""
        self.protocol = "request_response"
        return self

    def identity_key(self, identity_key: str) -> Endpoint:
        """Request signing keys are not supported by this SDK (refused rather than silently not checked)."""
        raise NotImplementedError("identity keys (request signature verification) are not supported yet")

    def app(self) -> Any:
        """The ASGI application."""
        return asgi_app(self)


def app(
    services: Iterable[ServiceBase],
    protocol: ProtocolChoice | None = None,
    identity_keys: list[str] | None = None,
    journal_value_codec: Any = None,
) -> Any:
    """An ASGI application serving `services` (HTTP/2 bidi streams, or request/response over HTTP/1.1).

    Args:
        services: the Service / VirtualObject / Workflow objects to serve.
        protocol: force "bidi" or "request_response" (default: from the HTTP version of the discovery request).
        identity_keys: not supported (NotImplementedError).
        journal_value_codec: not supported (NotImplementedError).
    """
    if journal_value_codec is not None:
        raise NotImplementedError("journal value codecs are not supported yet")
    endpoint = Endpoint().bind(*services)
    endpoint.protocol = protocol
    for key in identity_keys or ():
        endpoint.identity_key(key)
    return endpoint.app()


def _parse_path(path: str) -> tuple[str, str, str]:
    """("invoke", service, handler), ("health"|"discover", "", "") or ("unknown", "", ""), whatever the mount point."""
    parts = path.rstrip("/").rsplit("/", 3)
    if len(parts) >= 3 and parts[-3] == "invoke":
        return "invoke", parts[-2], parts[-1]
    if parts[-1] in ("health", "discover"):
        return parts[-1], "", ""
    return "unknown", "", ""


async def _respond(send: Send, status: int, body: bytes = b"", content_type: bytes | None = None) -> None:
    headers = [_SERVER_HEADER]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _discover(endpoint: Endpoint, scope: Scope, send: Send) -> None:
    version = negotiate_manifest_version(_header(scope, b"accept"))
    if version is None:
        await _respond(send, 415, b"Unsupported discovery version", b"text/plain")
        return
    protocol = endpoint.protocol or ("request_response" if scope.get("http_version") == "1.1" else "bidi")
    mode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"] = "BIDI_STREAM" if protocol == "bidi" else "REQUEST_RESPONSE"
    try:
        body = manifest_json(list(endpoint.services.values()), version, mode)
    except ValueError as e:
        await _respond(send, 500, f"Error when computing discovery {e}".encode(), b"text/plain")
        return
    await _respond(send, 200, body, f"application/vnd.restate.endpointmanifest.v{version}+json".encode())


async def _invoke(
    handler: Handler[Any, Any], scope: Scope, receive: Receive, send: Send, spans: SdkSpans | None = None
) -> None:
    headers = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope["headers"]]
    vm = VM(next((v for k, v in headers if k.lower() == "content-type"), None))
    status, response_headers = vm.response_head()
    if status != 200:
        await _respond(send, status, b"Unsupported service protocol version", b"text/plain")
        return
    out_headers = [(k.encode(), v.encode()) for k, v in response_headers] + [_SERVER_HEADER]
    await send({"type": "http.response.start", "status": 200, "headers": out_headers})
    io = AttemptIO(vm, receive, send)
    try:
        await io.read_until_ready()
        if vm.is_ready_to_execute():
            context = ServerInvocationContext(vm, handler, vm.sys_input(), dict(headers), io, spans)
            io.start_reader()
            try:
                await context.enter()
                await io.finish()
            finally:
                context.on_attempt_finished()
        else:
            await io.finish()
    except DisconnectedException:
        pass
    finally:
        await io.close()


def asgi_app(endpoint: Endpoint) -> Any:
    """The ASGI-3 callable serving `endpoint`."""
    services = endpoint.services

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            raise NotImplementedError(f"Unknown scope type {kind}")
        route, service_name, handler_name = _parse_path(scope["path"])
        if route == "health":
            await _respond(send, 200, b'{"status":"ok"}', b"application/json")
        elif route == "discover":
            await _discover(endpoint, scope, send)
        elif route == "invoke":
            service = services.get(service_name)
            handler = service.handlers.get(handler_name) if service is not None else None
            if handler is None:
                await _respond(send, 404)
                return
            await _invoke(handler, scope, receive, send, endpoint.spans)
        else:
            await _respond(send, 404)

    application.endpoint = endpoint  # type: ignore[attr-defined]  # for restate.sdk.otel.enable_tracing
    return application
