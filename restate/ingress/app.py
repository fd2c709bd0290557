"""The ingress ASGI app: Restate's HTTP ingress API, turning requests into invocations on the partitions."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from restate import metrics, stage_trace
from restate.ids import InvocationId
from restate.ingress import errors, invocations, routing
from restate.ingress.errors import APPLICATION_JSON, Headers, IngressError
from restate.ingress.responses import Response, error_response, outcome_response, rfc3339_nanos
from restate.ingress.routing import AwakeableRoute, HealthRoute, InvocationRoute, ServiceRoute
from restate.schema import OutputRules, Schema, is_exclusive
from restate.tracing import trace_context
from restate.tracing.exporter import SpanExporter
from restate.wire import Accepted, InvocationDone, InvocationRequest, NotFound, NotReady, Outcome, Target

__all__ = ["DEFAULT_REQUEST_SIZE_LIMIT", "Dispatcher", "IngressApp", "rfc3339_nanos"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger(__name__)

DEFAULT_REQUEST_SIZE_LIMIT = 32 * 1024 * 1024
_json = msgspec.json.Encoder()


class Dispatcher(Protocol):
    """What the app needs from the partitions: the `PartitionClient`, or a fake in tests."""

    @property
    def schema(self) -> Schema | None:
        """The latest service registry pushed by admin; None until the first one arrives."""
        ...

    async def call(self, request: InvocationRequest) -> InvocationDone:
        """Creates (or attaches to) the invocation and waits for its outcome."""
        ...

    async def send(self, request: InvocationRequest) -> Accepted:
        """Creates the invocation and returns once it is durable."""
        ...

    async def output(self, invocation_id: bytes, wait: bool) -> InvocationDone | NotReady | NotFound:
        """Attach (`wait`: answers once completed) or get the output now (NotReady while running)."""
        ...

    async def resolve_awakeable(self, invocation_id: bytes, signal_idx: int, outcome: Outcome) -> None:
        """Completes an awakeable; returns once the completion is durable."""
        ...


class _Disconnected(Exception):
    """The client went away while we were reading its body: nobody to answer."""


def _first_values(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        found.setdefault(name, value)
    return found


def _optional_str(values: dict[bytes, bytes], name: bytes) -> str | None:
    raw = values.get(name)
    return None if raw is None else routing.header_str(name, raw)


class IngressApp:
    """The ASGI app. Every response carries the CORS headers; every error is in Restate's JSON shape."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        request_size_limit: int = DEFAULT_REQUEST_SIZE_LIMIT,
        tracer: SpanExporter | None = None,
        concurrency_limit: int = 0,
    ) -> None:
        self._dispatcher = dispatcher
        self._limit = request_size_limit
        self._tracer = tracer  # None: tracing is off
        self._concurrency_limit = concurrency_limit  # ingress.concurrent-api-requests-limit; 0 = unlimited
        self._active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if stage_trace.ENABLED:
            stage_trace.mark("ingress: request in")
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        headers = _first_values(scope["headers"])
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS":
            preflight = errors.preflight_headers(
                origin, headers.get(b"access-control-request-method"), headers.get(b"access-control-request-headers")
            )
            await _respond(send, (200, preflight, b""))
            return
        if self._concurrency_limit and self._active >= self._concurrency_limit:
            # as the real server's load shedding: every route (health too) answers 429 at once
            metrics.ingress_request(metrics.REJECTED)
            await _respond(send, error_response(errors.too_many_requests(), origin))
            return
        self._active += 1
        try:
            response = await self._handle(scope, receive, headers)
        except IngressError as err:
            response = error_response(err, origin)
            metrics.ingress_request(metrics.REJECTED)
        except _Disconnected:
            return
        except Exception:  # a bug of ours: logged, and still answered in Restate's shape
            log.exception("ingress request %s %s failed", scope.get("method"), scope.get("path"))
            response = error_response(IngressError(500, errors.INTERNAL_ERROR), origin)
        finally:
            self._active -= 1
        await _respond(send, response)
        if stage_trace.ENABLED:
            stage_trace.mark("ingress: response written")

    async def _handle(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]) -> Response:
        raw_path: bytes | None = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else quote(scope["path"])
        path = routing.normalize_path(path)
        route = routing.parse_route(path, self._dispatcher.schema)
        method: str = scope["method"]
        origin = headers.get(b"origin")
        if isinstance(route, ServiceRoute):
            return await self._service(route, path, scope, receive, headers)
        if isinstance(route, HealthRoute):
            return self._health(method, origin)
        if isinstance(route, InvocationRoute):
            if method != "GET":
                raise errors.method_not_allowed()
            return await invocations.attach_or_output(self._dispatcher, route.query, route.attach, origin)
        if method != "POST":
            raise errors.method_not_allowed()
        body = await self._read_body(receive, headers)
        if isinstance(route, AwakeableRoute):
            return await invocations.complete_awakeable(self._dispatcher, route, body, origin)
        return await invocations.by_target_body(self._dispatcher, route.verb, body, origin)

    # --- call and send ----------------------------------------------------------------------------------

    async def _service(
        self, route: ServiceRoute, path: str, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> Response:
        schema = self._dispatcher.schema
        assert schema is not None  # parse_route answered 503 otherwise
        idempotency_key = _optional_str(headers, b"idempotency-key")
        svc, handler = routing.resolve_handler(schema, route, idempotency_key)
        if scope["method"] not in ("GET", "POST"):
            raise errors.method_not_allowed()
        body = await self._read_body(receive, headers)
        routing.validate_input(handler.input, _optional_str(headers, b"content-type"), body)
        query: str = scope.get("query_string", b"").decode("latin-1")
        delay_ns = routing.parse_delay(query)
        routing.check_limit_key(_optional_str(headers, b"x-restate-limit-key"), query, route.scope)
        input_headers = routing.input_headers(f"{path}?{query}" if query else path, scope["headers"])
        if delay_ns is not None and not route.send:
            raise errors.bad_request(errors.UNSUPPORTED_DELAY)
        invocation_id = routing.invocation_id_for(
            route.service, route.handler, route.key, idempotency_key, routing.is_workflow_run(svc, handler)
        )
        target = Target(route.service, route.handler, route.key, routing.service_ty(svc), is_exclusive(svc, handler))
        request = InvocationRequest(
            invocation_id=invocation_id.to_bytes(),
            target=target,
            input=body,
            headers=input_headers,
            idempotency_key=idempotency_key,
            execute_at_ms=None if delay_ns is None else routing.execute_at_ms(time.time_ns(), delay_ns),
        )
        if self._tracer is not None:
            trace = self._tracer.ingress(headers, scope.get("client"), request.invocation_id, target)
            request = msgspec.structs.replace(request, trace=trace)
        elif b"traceparent" in headers:  # tracing off: only the client's trace id is kept, as the real server
            trace = trace_context.client_only(headers[b"traceparent"], headers.get(b"tracestate"))
            request = msgspec.structs.replace(request, trace=trace)
        origin = headers.get(b"origin")
        metrics.ingress_request(metrics.ADMITTED, route.service, "send" if route.send else "call")
        if route.send:
            return await self._send(request, origin)
        return await self._call(request, handler.output, origin)

    async def _call(self, request: InvocationRequest, output: OutputRules, origin: bytes | None) -> Response:
        """Waits for the outcome; a repeated idempotent call replays the stored one (`idempotency-expires`)."""
        try:
            done = await self._dispatcher.call(request)
        except Exception as exc:
            raise errors.invocation_dispatch_error(exc) from exc
        status = metrics.COMPLETED if done.outcome.failure is None else metrics.INVOCATION_ERROR
        metrics.ingress_request(status, request.target.service, "call")
        return outcome_response(done, output, origin)

    async def _send(self, request: InvocationRequest, origin: bytes | None) -> Response:
        try:
            accepted = await self._dispatcher.send(request)
        except Exception as exc:
            raise errors.invocation_dispatch_error(exc) from exc
        metrics.ingress_request(metrics.COMPLETED, request.target.service, "send")
        invocation_id = str(InvocationId.from_bytes(accepted.invocation_id))
        doc: dict[str, str] = {"invocationId": invocation_id}
        execute_at = accepted.execute_at_ms
        if execute_at is None and not accepted.previously_accepted:
            execute_at = request.execute_at_ms
        if execute_at:  # the real server also hides the epoch
            doc["executionTime"] = rfc3339_nanos(execute_at)
        doc["status"] = "PreviouslyAccepted" if accepted.previously_accepted else "Accepted"
        body = _json.encode(doc)
        headers: Headers = [APPLICATION_JSON, (b"x-restate-id", invocation_id.encode())]
        headers.extend(errors.cors_headers(origin))
        headers.append((b"content-length", str(len(body)).encode()))
        return 202, headers, body

    async def _read_body(self, receive: Receive, headers: dict[bytes, bytes]) -> bytes:
        """Reads the body, failing with 413 as soon as it is known to exceed the limit."""
        limit = self._limit
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise IngressError(413, errors.BODY_TOO_LARGE)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise IngressError(413, errors.BODY_TOO_LARGE)
            if not message.get("more_body", False):
                if not chunks:
                    return chunk
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    # --- the other routes --------------------------------------------------------------------------------

    def _health(self, method: str, origin: bytes | None) -> Response:
        if method != "GET":
            raise errors.method_not_allowed()
        schema = self._dispatcher.schema
        if schema is None:
            raise IngressError(503, errors.SCHEMA_NOT_READY)
        body = _json.encode({"services": list(schema.services)})
        headers: Headers = [APPLICATION_JSON, *errors.cors_headers(origin)]
        headers.append((b"content-length", str(len(body)).encode()))
        return 200, headers, body


async def _respond(send: Send, response: Response) -> None:
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
