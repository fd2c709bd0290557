"""Rendering an invocation's outcome (call, attach, output) and the timestamp formats of the ingress."""

from __future__ import annotations

from restate.ids import InvocationId
from restate.ingress import errors, routing
from restate.ingress.errors import Headers, IngressError
from restate.schema import OutputRules, Schema
from restate.wire import InvocationDone, Target

Response = tuple[int, Headers, bytes]

# What attach/output answer when the handler that produced the value is unknown (see `output_rules`).
JSON_OUTPUT = OutputRules(content_type="application/json")


def _civil_date(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day counted from 1970-01-01, any year (Howard Hinnant's `civil_from_days`)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def _date_time(ms: int) -> tuple[str, int]:
    """`YYYY-MM-DDTHH:MM:SS` and the milliseconds; a year past 9999 is written `+22025`, as chrono does.

    A long enough retention puts an expiry there (the real server shows `+22025-...`)."""
    seconds, millis = divmod(ms, 1000)
    days, second_of_day = divmod(seconds, 86_400)
    year, month, day = _civil_date(days)
    shown = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):04d}"
    hour, rest = divmod(second_of_day, 3600)
    return f"{shown}-{month:02d}-{day:02d}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}", millis


def rfc3339_nanos(ms: int) -> str:
    """`2026-11-21T15:05:19.195000000Z`: the `executionTime` format of the real ingress."""
    moment, millis = _date_time(ms)
    return f"{moment}.{millis:03d}000000Z"


def rfc3339_millis(ms: int) -> str:
    """`2026-11-22T15:05:23.121+00:00`: the `idempotency-expires` header format."""
    moment, millis = _date_time(ms)
    return f"{moment}.{millis:03d}+00:00"


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
