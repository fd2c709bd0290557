"""Rendering an invocation's outcome (call, attach, output) and the timestamp formats of the ingress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from restate.ids import InvocationId
from restate.ingress import errors, routing
from restate.ingress.errors import Headers, IngressError
from restate.schema import OutputRules, Schema
from restate.wire import InvocationDone, Target

Response = tuple[int, Headers, bytes]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What attach/output answer when the handler that produced the value is unknown (see `output_rules`).
JSON_OUTPUT = OutputRules(content_type="application/json")


def _split_ms(ms: int) -> tuple[datetime, int]:
    seconds, millis = divmod(ms, 1000)
    return _EPOCH + timedelta(seconds=seconds), millis


def rfc3339_nanos(ms: int) -> str:
    """`2026-11-21T15:05:19.195000000Z`: the `executionTime` format of the real ingress."""
    moment, millis = _split_ms(ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}000000Z"


def rfc3339_millis(ms: int) -> str:
    """`2026-11-22T15:05:23.121+00:00`: the `idempotency-expires` header format."""
    moment, millis = _split_ms(ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}+00:00"


def error_response(err: IngressError, origin: bytes | None, invocation_id: str | None = None) -> Response:
    body = err.body()
    return err.status, errors.error_headers(err, origin, invocation_id, len(body)), body


def idempotency_expires(done: InvocationDone) -> str | None:
    """The header shows on answers replayed from a stored result, never on the live first one."""
    if done.expires_at_ms is None or not done.replayed:
        return None
    return rfc3339_millis(done.expires_at_ms)


def output_rules(schema: Schema | None, done: InvocationDone, handler: tuple[str, str] | None) -> OutputRules:
    """The output rules of the handler that produced `done`, which decide its content-type.

    The handler comes from the answer when it names its target, else from the request (idempotency
    key or workflow routes). Neither is known for an attach by invocation id: then a value is assumed
    to be JSON, which is what the official SDKs produce by default.
    """
    target = getattr(done, "target", None)  # a partition answer may name the invocation's target
    if isinstance(target, Target):
        handler = (target.service, target.handler)
    if handler is not None and schema is not None:
        found = schema.handler(*handler)
        if found is not None:
            return found[1].output
    return JSON_OUTPUT


def outcome_response(done: InvocationDone, rules: OutputRules, origin: bytes | None) -> Response:
    """200 with the raw value, or the invocation's failure; `x-restate-id` and `idempotency-expires`."""
    invocation_id = str(InvocationId.from_bytes(done.invocation_id))
    expires = idempotency_expires(done)
    failure = done.outcome.failure
    if failure is not None:
        err = errors.invocation_failure(failure.code, failure.message, failure.metadata, failure.stacktrace)
        body = err.body()
        return err.status, errors.error_headers(err, origin, invocation_id, len(body), expires), body
    value = done.outcome.value or b""
    headers: Headers = [(b"x-restate-id", invocation_id.encode())]
    if expires is not None:
        headers.append((b"idempotency-expires", expires.encode()))
    content_type = routing.output_content_type(rules, not value)
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    headers.extend(errors.cors_headers(origin))
    headers.append((b"content-length", str(len(value)).encode()))
    return 200, headers, value
