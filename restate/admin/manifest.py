"""Parses an SDK's discovery response (endpoint manifest v1-v4) into ServiceSchema/HandlerSchema (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from restate.admin.errors import AdminError, coded, discovery_failed
from restate.schema import (
    HandlerSchema,
    HandlerType,
    InputRules,
    OutputRules,
    ProtocolType,
    RetryPolicy,
    ServiceSchema,
    ServiceType,
)

MANIFEST_CONTENT_TYPES = tuple(f"application/vnd.restate.endpointmanifest.v{n}+json" for n in range(1, 5))
ACCEPT = ", ".join(MANIFEST_CONTENT_TYPES)
MIN_PROTOCOL_VERSION = 5
MAX_PROTOCOL_VERSION = 7
_I32_MAX = 2**31 - 1

HttpVersion = Literal["HTTP/2.0", "HTTP/1.1"]
Millis = Annotated[int, Meta(ge=0)]
_SERVICE_NAME = Annotated[str, Meta(pattern=r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*\Z")]
_HANDLER_NAME = Annotated[str, Meta(pattern=r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*\Z")]


class _Input(msgspec.Struct, rename="camel", frozen=True):
    required: bool | None = None
    content_type: str | None = None
    json_schema: Any = None


class _Output(msgspec.Struct, rename="camel", frozen=True):
    content_type: str | None = None
    set_content_type_if_empty: bool | None = None
    json_schema: Any = None


class _Policy(msgspec.Struct, rename="camel", frozen=True):
    """The optional policy fields shared by services and handlers (durations in milliseconds)."""

    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout: Millis | None = None
    abort_timeout: Millis | None = None
    journal_retention: Millis | None = None
    idempotency_retention: Millis | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy_initial_interval: Millis | None = None
    retry_policy_max_interval: Millis | None = None
    retry_policy_max_attempts: Annotated[int, Meta(ge=0)] | None = None
    retry_policy_exponentiation_factor: float | None = None
    retry_policy_on_max_attempts: Literal["PAUSE", "KILL"] | None = None


class _Handler(_Policy, frozen=True, kw_only=True):
    name: _HANDLER_NAME
    ty: Literal["WORKFLOW", "EXCLUSIVE", "SHARED"] | None = None
    input: _Input | None = None
    output: _Output | None = None
    workflow_completion_retention: Millis | None = None


class _Service(_Policy, frozen=True, kw_only=True):
    name: _SERVICE_NAME
    ty: Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]
    handlers: list[_Handler]


class _Endpoint(msgspec.Struct, rename="camel", frozen=True):
    min_protocol_version: Annotated[int, Meta(ge=1)]
    max_protocol_version: Annotated[int, Meta(ge=1)]
    services: list[_Service]
    protocol_mode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"] | None = None
    lambda_compression: Literal["zstd"] | None = None


@dataclass(frozen=True, slots=True)
class Discovered:
    """What discovery learned about an endpoint; services carry no deployment id or revision yet."""

    protocol_type: ProtocolType
    http_version: HttpVersion
    min_protocol_version: int
    max_protocol_version: int
    sdk_version: str | None
    services: list[ServiceSchema]


def _bad_response(reason: str) -> AdminError:
    return discovery_failed("META0013", f"received a bad response from the SDK: {reason}")


def check_content_type(content_type: str | None) -> None:
    """The response content type must be exactly one of the manifest versions offered in `accept`."""
    if content_type is None:
        raise _bad_response(f"No content type header was specified. Expected one of '\"{ACCEPT}\"' content type.")
    if content_type not in MANIFEST_CONTENT_TYPES:
        raise _bad_response(f'Bad content type header: "{content_type}". Expected one of \'"{ACCEPT}"\'')


def parse_manifest(
    content_type: str | None, body: bytes, http_version: HttpVersion, sdk_version: str | None = None
) -> Discovered:
    """Validates a discovery response (content type, JSON, protocol range) and converts its services."""
    check_content_type(content_type)
    endpoint = _decode(body)
    protocol_type = _protocol_type(endpoint)
    min_v, max_v = _protocol_range(endpoint, sdk_version)
    services = {svc.name: _service(svc) for svc in endpoint.services}
    return Discovered(protocol_type, http_version, min_v, max_v, sdk_version, list(services.values()))


def _decode(body: bytes) -> _Endpoint:
    try:
        return msgspec.json.decode(body, type=_Endpoint)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        text = body.decode("utf-8", "replace")
        raise discovery_failed(
            None,
            f"received a bad response from the SDK that cannot be decoded: {exc}. Discovery response: {text}",
        ) from exc


def _protocol_type(endpoint: _Endpoint) -> ProtocolType:
    if endpoint.protocol_mode is None:
        raise _bad_response("missing protocol mode")
    # BIDI_STREAM over HTTP/1.1 is trusted, as the real server does.
    return "BidiStream" if endpoint.protocol_mode == "BIDI_STREAM" else "RequestResponse"


def _protocol_range(endpoint: _Endpoint, sdk_version: str | None) -> tuple[int, int]:
    min_v, max_v = endpoint.min_protocol_version, endpoint.max_protocol_version
    if min_v > _I32_MAX:
        raise _bad_response(f"min protocol version must be in [1, {_I32_MAX}]")
    if max_v > _I32_MAX:
        raise _bad_response(f"max protocol version must be in [1, {_I32_MAX}]")
    if min_v > max_v:
        raise _bad_response(
            "Expected min protocol version to be <= max protocol version. Received min protocol "
            f"version '{min_v}', max protocol version '{max_v}'"
        )
    if sdk_version and sdk_version.startswith(tuple(f"restate-sdk-typescript/1.{m}." for m in range(3))):
        max_v = 1  # the real server's workaround for old TypeScript SDKs
    if not (min_v <= MAX_PROTOCOL_VERSION and max_v >= MIN_PROTOCOL_VERSION):
        raise discovery_failed(
            "META0012",
            f"unsupported service protocol versions: [{min_v}, {max_v}]. Supported versions by this "
            f"runtime are [{MIN_PROTOCOL_VERSION}, {MAX_PROTOCOL_VERSION}]. Please upgrade the SDK and "
            "try registering again.",
        )
    return min_v, max_v


_SERVICE_TY: dict[str, ServiceType] = {
    "SERVICE": "Service",
    "VIRTUAL_OBJECT": "VirtualObject",
    "WORKFLOW": "Workflow",
}
_HANDLER_TY: dict[tuple[ServiceType, str | None], HandlerType | None] = {
    ("Service", None): None,
    ("Service", "SHARED"): None,
    ("VirtualObject", None): "Exclusive",
    ("VirtualObject", "EXCLUSIVE"): "Exclusive",
    ("VirtualObject", "SHARED"): "Shared",
    ("Workflow", None): "Shared",
    ("Workflow", "SHARED"): "Shared",
    ("Workflow", "WORKFLOW"): "Workflow",
}
_MANIFEST_HANDLER_TY = {"WORKFLOW": "Workflow", "EXCLUSIVE": "Exclusive", "SHARED": "Shared"}


def _retry_policy(p: _Policy) -> RetryPolicy:
    attempts = p.retry_policy_max_attempts
    on_max = p.retry_policy_on_max_attempts
    return RetryPolicy(
        initial_interval_ms=p.retry_policy_initial_interval,
        max_interval_ms=p.retry_policy_max_interval,
        max_attempts=None if attempts is None else max(attempts, 1),
        exponentiation_factor=p.retry_policy_exponentiation_factor,
        on_max_attempts=None if on_max is None else ("Pause" if on_max == "PAUSE" else "Kill"),
    )


def _service(svc: _Service) -> ServiceSchema:
    ty = _SERVICE_TY[svc.ty]
    public = not svc.ingress_private if svc.ingress_private is not None else True
    handlers = {h.name: _handler(svc.name, ty, public, h) for h in svc.handlers}
    return ServiceSchema(
        name=svc.name,
        ty=ty,
        handlers=handlers,
        deployment_id="",
        revision=0,
        public=public,
        documentation=svc.documentation,
        metadata=dict(svc.metadata),
        inactivity_timeout_ms=svc.inactivity_timeout,
        abort_timeout_ms=svc.abort_timeout,
        journal_retention_ms=svc.journal_retention,
        idempotency_retention_ms=svc.idempotency_retention,
        enable_lazy_state=bool(svc.enable_lazy_state),
        retry_policy=_retry_policy(svc),
    )


def _handler_type(service_ty: ServiceType, h: _Handler) -> HandlerType | None:
    key = (service_ty, h.ty)
    if key not in _HANDLER_TY:
        shown = "None" if h.ty is None else f"Some({_MANIFEST_HANDLER_TY[h.ty]})"
        raise coded(400, None, f"invalid combination of service type and handler type '({service_ty}, {shown})'")
    return _HANDLER_TY[key]


def _handler(service: str, service_ty: ServiceType, service_public: bool, h: _Handler) -> HandlerSchema:
    ty = _handler_type(service_ty, h)
    if h.workflow_completion_retention is not None and ty != "Workflow":
        raise coded(400, None, f"{h.name} sets the workflow_completion_retention, but it's not a Workflow handler")
    if h.idempotency_retention is not None and ty == "Workflow":
        raise coded(400, None, f"{h.name} sets the idempotency_retention, but it's a Workflow handler")
    if not service_public and h.ingress_private is False:
        raise coded(
            400,
            None,
            f"The service {service} is private, but the {h.name} is explicitly set as public. This is not "
            "supported. Please make the service public, and hide the individual handlers",
        )
    return HandlerSchema(
        name=h.name,
        ty=ty,
        input=_input_rules(h.name, h.input),
        output=_output_rules(h.name, h.output),
        public=service_public if h.ingress_private is None else not h.ingress_private,
        documentation=h.documentation,
        metadata=dict(h.metadata),
        inactivity_timeout_ms=h.inactivity_timeout,
        abort_timeout_ms=h.abort_timeout,
        journal_retention_ms=h.journal_retention,
        idempotency_retention_ms=h.idempotency_retention,
        workflow_completion_retention_ms=h.workflow_completion_retention,
        enable_lazy_state=h.enable_lazy_state,
        retry_policy=_retry_policy(h),
        ingress_private=h.ingress_private,
    )


def _input_rules(handler: str, spec: _Input | None) -> InputRules:
    """Absent input means "none or any content type"; `{}` means "no input at all"."""
    if spec is None:
        return InputRules()
    content_type = spec.content_type
    if content_type is not None:
        _check_input_content_type(handler, content_type)
    return InputRules(
        required=bool(spec.required),
        content_type=content_type,
        json_schema=spec.json_schema if content_type is not None else None,
        accepts_none=content_type is None and not spec.required,
    )


def _check_input_content_type(handler: str, content_type: str) -> None:
    main, slash, sub = content_type.strip().partition("/")
    reason = None
    if not slash:
        reason = "must contain one /"
    elif main == "*" and sub != "*":
        reason = "the wildcard format */subType is not supported"
    if reason is not None:
        raise coded(
            400,
            None,
            f"the handler '{handler}' input content-type is not valid: can't parse the content-type "
            f"'{content_type}': {reason}",
        )


def _output_rules(handler: str, spec: _Output | None) -> OutputRules:
    """Absent output means JSON; an output without content type means "no output"."""
    if spec is None:
        return OutputRules(content_type="application/json")
    if spec.content_type is None:
        return OutputRules(content_type=None)
    if not all(ch == "\t" or " " <= ch <= "~" for ch in spec.content_type):
        raise coded(
            400, None, f"the handler '{handler}' output content-type is not valid: failed to parse header value"
        )
    return OutputRules(
        content_type=spec.content_type,
        set_content_type_if_empty=bool(spec.set_content_type_if_empty),
        json_schema=spec.json_schema,
    )
