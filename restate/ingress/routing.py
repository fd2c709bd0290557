"""Request parsing of the ingress (no I/O): path -> route, handler lookup, input rules, delay, headers, new ids."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from restate.durations import DurationError, parse_duration_ns
from restate.ids import IdError, InvocationId, idempotent_id, partition_key_for, workflow_run_id
from restate.ingress import errors
from restate.ingress.errors import IngressError
from restate.schema import HandlerSchema, InputRules, OutputRules, Schema, ServiceSchema
from restate.wire import ServiceTy

# --- routes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """`/{svc}/{handler}[/send]`, `/{obj}/{key}/{handler}[/send]`, `/restate/call|send/...`."""

    service: str
    handler: str
    key: str | None
    send: bool
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class HealthRoute:
    """`/restate/health`."""


@dataclass(frozen=True, slots=True)
class ById:
    invocation_id: InvocationId


@dataclass(frozen=True, slots=True)
class ByIdempotencyKey:
    service: str
    key: str | None
    handler: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ByWorkflow:
    workflow: str
    key: str


InvocationQuery = ById | ByIdempotencyKey | ByWorkflow


@dataclass(frozen=True, slots=True)
class InvocationRoute:
    """attach (`attach=True`) or output of an invocation named in the path (GET only)."""

    query: InvocationQuery
    attach: bool


@dataclass(frozen=True, slots=True)
class TargetBodyRoute:
    """`POST /restate/attach|output|lookup`: the JSON body names the invocation."""

    verb: str


@dataclass(frozen=True, slots=True)
class AwakeableRoute:
    """`POST /restate/awakeables/{id}/resolve|reject` (or `/restate/a/...`); the id is checked later."""

    awakeable_id: str
    resolve: bool


Route = ServiceRoute | HealthRoute | InvocationRoute | TargetBodyRoute | AwakeableRoute

# --- path parsing (restate `handler/path_parsing.rs`) ---------------------------------------------------


def normalize_path(path: str) -> str:
    """tower-http's `trim_trailing_slash`: `/a/b/` and `//a/b` become `/a/b`."""
    if not path.endswith("/") and not path.startswith("//"):
        return path
    return "/" + path.strip("/")


def parse_route(path: str, schema: Schema | None) -> Route:
    """Parses a normalized raw (still percent-encoded) path into a route, or raises IngressError."""
    if not 2 <= path.count("/") <= 7:
        raise errors.bad_request(f"bad path: {path}")
    segments = iter(path.split("/")[1:])
    first = next(segments)
    if first == "openapi":
        raise errors.not_found()  # the real server parses it but does not serve it
    if first != "restate":
        return _service_route(segments, first, schema)
    verb = next(segments)
    if verb == "health":
        return HealthRoute()
    if verb in ("awakeables", "a"):
        return _awakeable_route(segments)
    if verb == "invocation":
        return _invocation_route(segments, schema)
    if verb == "workflow":
        return _workflow_route(segments)
    return _restate_api_route(verb, segments, schema)


def _next(segments: Iterator[str], message: str) -> str:
    segment = next(segments, None)
    if segment is None:
        raise errors.bad_request(message)
    return segment


def _service(schema: Schema | None, name: str) -> ServiceSchema:
    if schema is None:
        raise IngressError(503, errors.SCHEMA_NOT_READY)
    svc = schema.services.get(name)
    if svc is None:
        raise errors.service_not_found(name)
    return svc


def decode_key(segment: str) -> str:
    """Percent-decodes a key segment (`+` stays `+`); invalid UTF-8 is a 400 as in the real server."""
    raw = unquote_to_bytes(segment.encode("latin-1"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        error_len = "None" if exc.reason == "unexpected end of data" else f"Some({exc.end - exc.start})"
        detail = (
            f"FromUtf8Error {{ bytes: [{', '.join(str(b) for b in raw)}], "
            f"error: Utf8Error {{ valid_up_to: {exc.start}, error_len: {error_len} }} }}"
        )
        raise errors.bad_request(f"bad path, cannot decode key: {detail}") from None


def _service_route(segments: Iterator[str], name: str, schema: Schema | None) -> ServiceRoute:
    svc = _service(schema, name)
    key = decode_key(_next(segments, errors.BAD_SERVICE_PATH)) if svc.keyed else None
    handler = _next(segments, errors.BAD_SERVICE_PATH)
    last = next(segments, None)
    if last is not None and last != "send":
        raise errors.bad_request(errors.BAD_SERVICE_PATH)
    if next(segments, None) is not None:
        raise errors.bad_request(errors.BAD_SERVICE_PATH)
    return ServiceRoute(name, handler, key, send=last == "send")


def _awakeable_route(segments: Iterator[str]) -> AwakeableRoute:
    awakeable_id = _next(segments, errors.BAD_AWAKEABLES_PATH)
    op = _next(segments, errors.BAD_AWAKEABLES_PATH)
    if op not in ("resolve", "reject"):
        raise errors.not_found()
    return AwakeableRoute(awakeable_id, resolve=op == "resolve")


def _attach_or_output(last: str) -> bool:
    if last not in ("attach", "output"):
        raise errors.not_found()
    return last == "attach"


def parse_invocation_id(text: str) -> InvocationId:
    try:
        return InvocationId.parse(text)
    except IdError as exc:
        raise errors.bad_request(f"bad invocation id '{text}': {exc}") from None


def _invocation_route(segments: Iterator[str], schema: Schema | None) -> InvocationRoute:
    first = _next(segments, errors.BAD_INVOCATION_PATH)
    second = _next(segments, errors.BAD_INVOCATION_PATH)
    third = next(segments, None)
    if third is None:
        attach = _attach_or_output(second)
        return InvocationRoute(ById(parse_invocation_id(first)), attach)
    svc = _service(schema, first)
    if svc.keyed:
        key: str | None = decode_key(second)
        handler, idem = third, _next(segments, errors.BAD_INVOCATION_PATH)
    else:
        key, handler, idem = None, second, third
    last = _next(segments, errors.BAD_INVOCATION_PATH)
    attach = _attach_or_output(last)
    return InvocationRoute(ByIdempotencyKey(first, key, handler, idem), attach)


def _workflow_route(segments: Iterator[str]) -> InvocationRoute:
    name = _next(segments, errors.BAD_WORKFLOW_PATH)
    key = decode_key(_next(segments, errors.BAD_WORKFLOW_PATH))
    attach = _attach_or_output(_next(segments, errors.BAD_WORKFLOW_PATH))
    return InvocationRoute(ByWorkflow(name, key), attach)


def _restate_api_route(verb: str, segments: Iterator[str], schema: Schema | None) -> Route:
    if verb in ("call", "send"):
        return _call_or_send(verb, None, segments, schema)
    if verb == "scope":
        scope = decode_key(_next(segments, errors.BAD_RESTATE_API_PATH))
        return _call_or_send(_next(segments, errors.BAD_RESTATE_API_PATH), scope, segments, schema)
    if verb in ("attach", "output"):
        id_text = next(segments, None)
        if id_text is None:
            return TargetBodyRoute(verb)
        if next(segments, None) is not None:
            raise errors.bad_request(errors.BAD_RESTATE_API_PATH)
        return InvocationRoute(ById(parse_invocation_id(id_text)), attach=verb == "attach")
    if verb == "lookup":
        if next(segments, None) is not None:
            raise errors.bad_request(errors.BAD_RESTATE_API_PATH)
        return TargetBodyRoute(verb)
    raise errors.not_found()


def _call_or_send(verb: str, scope: str | None, segments: Iterator[str], schema: Schema | None) -> ServiceRoute:
    if verb not in ("call", "send"):
        raise errors.bad_request(errors.BAD_RESTATE_API_PATH)
    name = _next(segments, errors.BAD_RESTATE_API_PATH)
    svc = _service(schema, name)
    key = decode_key(_next(segments, errors.BAD_RESTATE_API_PATH)) if svc.keyed else None
    handler = _next(segments, errors.BAD_RESTATE_API_PATH)
    if next(segments, None) is not None:
        raise errors.bad_request(errors.BAD_RESTATE_API_PATH)
    return ServiceRoute(name, handler, key, send=verb == "send", scope=scope)


# --- the target of a service request ---------------------------------------------------------------------

_SERVICE_TY: dict[str, ServiceTy] = {"Service": "service", "VirtualObject": "virtual_object", "Workflow": "workflow"}


def service_ty(svc: ServiceSchema) -> ServiceTy:
    return _SERVICE_TY[svc.ty]


def is_workflow_run(svc: ServiceSchema, handler: HandlerSchema) -> bool:
    return svc.ty == "Workflow" and handler.ty == "Workflow"


def resolve_handler(
    schema: Schema, route: ServiceRoute, idempotency_key: str | None
) -> tuple[ServiceSchema, HandlerSchema]:
    """The checks the real server makes before looking at the method and the body, in its order."""
    found = schema.handler(route.service, route.handler)
    if found is None:
        raise errors.handler_not_found(route.service, route.handler)
    svc, handler = found
    if not (svc.public and handler.public):
        raise errors.bad_request(errors.PRIVATE_SERVICE)
    if idempotency_key is not None and is_workflow_run(svc, handler):
        raise errors.bad_request(errors.UNSUPPORTED_IDEMPOTENCY_KEY)
    if route.scope is not None:
        raise errors.bad_request(errors.SCOPE_REQUIRES_VQUEUES)
    return svc, handler


def invocation_id_for(
    service: str, handler: str, key: str | None, idempotency_key: str | None, workflow_run: bool = False
) -> InvocationId:
    """The id of a new invocation: deterministic for workflow runs and idempotent requests, else random.

    Workflow `run` ids derive from (workflow, key) as in the real server, so a second run of the same
    key lands on the same invocation; idempotent ids derive from (target, idempotency key).
    """
    if workflow_run and key is not None:
        return workflow_run_id(service, key)
    if idempotency_key is not None:
        return idempotent_id(service, key, handler, idempotency_key)
    return InvocationId.new(None if key is None else partition_key_for(key))


# --- input rules (restate `schema/invocation_target.rs`) ---------------------------------------------------


def _rust_debug(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{escaped}"'


def _split_mime(value: str) -> tuple[str, str] | None:
    main, sep, sub = value.split(";", 1)[0].strip().partition("/")
    return (main, sub) if sep else None


def _content_type_error(expected: str, given: str) -> str | None:
    rule = expected.strip().partition("/")
    shown = "*/*" if rule[0] == "*" else f"{rule[0]}/{rule[2]}"
    if shown == "*/*":
        return None
    parts = _split_mime(given)
    if parts is None or parts[0] != rule[0] or (rule[2] != "*" and parts[1] != rule[2]):
        return f"Content-type '{given}' does not match '{shown}'"
    return None


def validate_input(rules: InputRules, content_type: str | None, body: bytes) -> None:
    """Raises the real 400 `input validation error: ...` when no rule accepts the request.

    Rules, tried in order, the last failure is reported: an empty body without content-type
    (unless `required`), then the content-type rule (absent for `input: {}` handlers); with a JSON
    schema the body must also be non-empty. Content-type parameters (`; charset=...`) are ignored.
    """
    reason = "Bad configuration of the input validation rules"
    if not rules.required:
        if not body and content_type is None:
            return
        shown = "None" if content_type is None else f"Some({_rust_debug(content_type)})"
        reason = f"Expected body and content-type to be empty, but wasn't with content-type '{shown}'"
    if rules.content_type is not None and not rules.accepts_none:
        if content_type is None:
            reason = "Empty content-type"
        else:
            mismatch = _content_type_error(rules.content_type, content_type)
            if mismatch is not None:
                reason = mismatch
            elif rules.json_schema is not None and not body:
                reason = "Empty body not allowed"
            else:
                return
    raise errors.bad_request(f"input validation error: {reason}")


def output_content_type(rules: OutputRules, empty: bool) -> str | None:
    if rules.content_type is None or (empty and not rules.set_content_type_if_empty):
        return None
    return rules.content_type


# --- query and headers ---------------------------------------------------------------------------------------


def _query_param(query: str, name: str) -> str | None:
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() == name:
            return value
    return None


def parse_delay(query: str) -> int | None:
    """The `delay` query parameter (name matched case-insensitively) in nanoseconds, or None."""
    if not query:
        return None
    value = _query_param(query, "delay")
    if value is None:
        return None
    try:
        return parse_duration_ns(value)
    except DurationError as exc:
        raise errors.bad_request(f"bad delay query parameter, must be a ISO8601 duration: {exc}") from None


# The last instant a timestamp can show (9999-12-31T23:59:59.999Z): the real server panics beyond it.
MAX_TIMESTAMP_MS = 253_402_300_799_999


def execute_at_ms(now_ns: int, delay_ns: int) -> int:
    """When a delayed send runs, in ms since the epoch; a 400 when that is past the last timestamp."""
    at_ms = (now_ns + delay_ns) // 1_000_000
    if at_ms > MAX_TIMESTAMP_MS:
        raise errors.bad_request(
            "bad delay query parameter, must be a ISO8601 duration: the delay puts the execution time "
            "after 9999-12-31T23:59:59.999Z"
        )
    return at_ms


def check_limit_key(header: str | None, query: str, scope: str | None) -> None:
    """A limit key (header `x-restate-limit-key` or query `limit-key`) needs a scope, as in the real server."""
    value = header if header is not None else (_query_param(query, "limit-key") if query else None)
    if value and scope is None:
        raise errors.bad_request(errors.LIMIT_KEY_WITHOUT_SCOPE)


_VISIBLE = bytes([0x09, *range(0x20, 0x7F)])


def header_str(name: bytes, value: bytes) -> str:
    """`HeaderValue::to_str`: only visible ASCII and tab, else a 400 `bad header`."""
    if value.translate(None, _VISIBLE):
        raise errors.bad_header(name.decode("latin-1"))
    return value.decode("ascii")


_NOT_FORWARDED = frozenset((b"connection", b"host", b"idempotency-key", b"idempotency-expires"))


def input_headers(path_and_query: str, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The invocation's headers: `x-restate-ingress-path` plus every request header but the excluded ones."""
    result = [("x-restate-ingress-path", path_and_query)]
    for name, value in headers:
        if name not in _NOT_FORWARDED:
            result.append((name.decode("latin-1"), header_str(name, value)))
    return result
