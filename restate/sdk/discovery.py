"""The endpoint manifest (discovery v2-v5): services, handlers, their types, schemas and policies as JSON."""

from __future__ import annotations

import json
import typing
from datetime import timedelta
from typing import Any, Literal

from restate.sdk.handler import Handler, TypeHint
from restate.sdk.retry_policy import InvocationRetryPolicy
from restate.sdk.service import ServiceBase

__all__ = ["MANIFEST_VERSIONS", "compute_manifest", "manifest_json", "negotiate_manifest_version"]

MANIFEST_VERSIONS = (5, 4, 3, 2)
MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION = 5, 7
_SERVICE_TYPES = {"service": "SERVICE", "object": "VIRTUAL_OBJECT", "workflow": "WORKFLOW"}
_HANDLER_TYPES = {"exclusive": "EXCLUSIVE", "shared": "SHARED", "workflow": "WORKFLOW"}
# field -> first manifest version that knows it
_SINCE = {
    "inactivityTimeout": 3,
    "abortTimeout": 3,
    "journalRetention": 3,
    "idempotencyRetention": 3,
    "workflowCompletionRetention": 3,
    "enableLazyState": 3,
    "ingressPrivate": 3,
    "retryPolicyInitialInterval": 4,
    "retryPolicyMaxInterval": 4,
    "retryPolicyMaxAttempts": 4,
    "retryPolicyExponentiationFactor": 4,
    "retryPolicyOnMaxAttempts": 4,
    "eagerStateKeysWhitelist": 5,
}


def negotiate_manifest_version(accept: str | None) -> int | None:
    """The highest manifest version offered in `accept` (2 when absent), or None if none is supported."""
    if not accept:
        return 2
    for version in MANIFEST_VERSIONS:
        if f"application/vnd.restate.endpointmanifest.v{version}+json" in accept:
            return version
    return None


def _ms(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds() * 1000)


def type_hint_to_json_schema(hint: Any) -> Any:
    """A JSON schema for plain Python types (True, i.e. anything, for others)."""
    origin = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
    if origin in simple:
        return {"type": simple[origin]}
    if origin is list:
        return {"type": "array", "items": type_hint_to_json_schema(args[0] if args else Any)}
    if origin is None or origin is type(None):
        return {"type": "null"}
    return True


def _schema(hint: TypeHint[Any] | None) -> Any:
    if hint is None or not hint.annotation:
        return None
    if hint.generate_json_schema is not None:
        return hint.generate_json_schema()
    return type_hint_to_json_schema(hint.annotation)


def _state_preload(preload: bool | list[str] | None, lazy: bool | None) -> tuple[bool | None, list[str] | None]:
    if preload is None:
        return lazy, None
    if isinstance(preload, bool):
        return not preload, None
    return True, (list(preload) or None)


def _policies(owner: Any, retry: InvocationRetryPolicy | None) -> dict[str, Any]:
    fields = {
        "inactivityTimeout": _ms(owner.inactivity_timeout),
        "abortTimeout": _ms(owner.abort_timeout),
        "journalRetention": _ms(owner.journal_retention),
        "idempotencyRetention": _ms(owner.idempotency_retention),
        "ingressPrivate": owner.ingress_private,
    }
    if retry is not None:
        fields["retryPolicyInitialInterval"] = _ms(retry.initial_interval) if retry.initial_interval else None
        fields["retryPolicyMaxInterval"] = _ms(retry.max_interval) if retry.max_interval else None
        fields["retryPolicyMaxAttempts"] = retry.max_attempts
        factor = retry.exponentiation_factor
        fields["retryPolicyExponentiationFactor"] = None if factor is None else float(factor)
        on_max = retry.on_max_attempts
        fields["retryPolicyOnMaxAttempts"] = on_max.upper() if on_max else None
    return fields


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def _handler(h: Handler[Any, Any]) -> dict[str, Any]:
    io = h.handler_io
    out: dict[str, Any] = {"name": h.name}
    if h.kind:
        out["ty"] = _HANDLER_TYPES[h.kind]
    if io.input_type is not None and io.input_type.is_void:
        out["input"] = {}
    else:
        out["input"] = _drop_none({"required": False, "contentType": io.accept, "jsonSchema": _schema(io.input_type)})
    if io.output_type is not None and io.output_type.is_void:
        out["output"] = {"setContentTypeIfEmpty": False}
    else:
        schema = _schema(io.output_type)
        output = {"contentType": io.content_type, "setContentTypeIfEmpty": False, "jsonSchema": schema}
        out["output"] = _drop_none(output)
    lazy, whitelist = _state_preload(h.state_preload, h.enable_lazy_state)
    out.update(documentation=h.description, metadata=h.metadata, **_policies(h, h.invocation_retry_policy))
    out.update(workflowCompletionRetention=_ms(h.workflow_retention), enableLazyState=lazy)
    out["eagerStateKeysWhitelist"] = whitelist
    return out


def _service(s: ServiceBase) -> dict[str, Any]:
    lazy, whitelist = (None, None) if s.kind == "service" else _state_preload(s.state_preload, s.enable_lazy_state)
    out: dict[str, Any] = {
        "name": s.name,
        "ty": _SERVICE_TYPES[s.kind],
        "handlers": [_handler(h) for h in s.handlers.values()],
        "documentation": s.service_tag.description,
        "metadata": s.service_tag.metadata,
    }
    out.update(_policies(s, s.invocation_retry_policy), enableLazyState=lazy, eagerStateKeysWhitelist=whitelist)
    return out


def _prune(obj: dict[str, Any], version: int) -> dict[str, Any]:
    """Drop None fields; ValueError for a field the negotiated manifest version does not know."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if _SINCE.get(key, 0) > version:
            raise ValueError(f"{key} is only supported in discovery protocol version {_SINCE[key]}")
        out[key] = value
    return out


def compute_manifest(
    services: list[ServiceBase], version: int, mode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"]
) -> dict[str, Any]:
    """The manifest as a dict (fields unknown to `version` raise ValueError when set)."""
    entries = []
    for service in services:
        entry = _prune(_service(service), version)
        entry["handlers"] = [_prune(h, version) for h in entry["handlers"]]
        entries.append(entry)
    return {
        "protocolMode": mode,
        "minProtocolVersion": MIN_PROTOCOL_VERSION,
        "maxProtocolVersion": MAX_PROTOCOL_VERSION,
        "services": entries,
    }


def manifest_json(
    services: list[ServiceBase], version: int, mode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"]
) -> bytes:
    """The manifest, JSON-encoded."""
    return json.dumps(compute_manifest(services, version, mode), allow_nan=False).encode()
