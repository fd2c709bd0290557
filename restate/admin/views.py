"""The admin API's JSON shapes: deployments, ServiceMetadata and HandlerMetadata, as Restate 1.7 prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from restate.admin.registry import deployment_services
from restate.config import Config
from restate.schema import (
    DEFAULT_RETENTION_MS,
    Deployment,
    HandlerSchema,
    InputRules,
    OutputRules,
    ProtocolType,
    RetryPolicy,
    Schema,
    ServiceSchema,
)

Json = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = (
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("µs", 1_000),
    ("ns", 1),
)


def friendly_duration(ms: int) -> str:
    """A duration as Restate's "friendly" compact span, days the largest unit: "1d", "1m 30s", "0s"."""
    nanos = ms * 1_000_000
    parts = []
    for designator, size in _UNITS:
        count, nanos = divmod(nanos, size)
        if count:
            parts.append(f"{count}{designator}")
    return " ".join(parts) or "0s"


def timestamp(ms: int) -> str:
    """RFC 3339 UTC with nanosecond digits: "2026-11-21T15:05:12.996000000Z"."""
    secs, millis = divmod(ms, 1000)
    moment = _EPOCH + timedelta(seconds=secs)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis * 1_000_000:09d}Z"


def _json_info(schema: object) -> str | None:
    if isinstance(schema, dict):
        title, ty = schema.get("title"), schema.get("type")
        if isinstance(title, str):
            return f"JSON '{title}'"
        if isinstance(ty, str):
            return f"JSON {ty}"
    return None


def input_description(rules: InputRules) -> str:
    """One of: none, JSON <type>, JSON '<title>', or the accepted content type."""
    described = [] if rules.required else ["none"]
    if rules.content_type is not None:
        described.append(_json_info(rules.json_schema) or rules.content_type.strip())
    if not described:
        return "<invalid rules>"
    return described[-1]


def input_json_schema(rules: InputRules) -> object | None:
    return rules.json_schema if rules.content_type is not None else None


def output_description(rules: OutputRules) -> str:
    info = _json_info(rules.json_schema)
    if info is not None:
        return info
    if rules.content_type is None:
        return "none"
    return ("optional " if rules.set_content_type_if_empty else "") + rules.content_type


def _handler_retry_policy(policy: RetryPolicy) -> Json:
    out: Json = {}
    if policy.initial_interval_ms is not None:
        out["initial_interval"] = friendly_duration(policy.initial_interval_ms)
    if policy.exponentiation_factor is not None:
        out["exponentiation_factor"] = float(policy.exponentiation_factor)
    out["max_attempts"] = policy.max_attempts
    if policy.max_interval_ms is not None:
        out["max_interval"] = friendly_duration(policy.max_interval_ms)
    if policy.on_max_attempts is not None:
        out["on_max_attempts"] = policy.on_max_attempts
    return out


def _rr_info(what: str, inactivity_ms: int) -> list[Json]:
    return [
        {
            "code": "RT0021",
            "message": f"The configured inactivity_timeout {friendly_duration(inactivity_ms)} will not be "
            f"applied because the {what} is exposed in Request/Response mode.",
        }
    ]


def _optional_durations(h: HandlerSchema, request_response: bool) -> Json:
    values = {
        "idempotency_retention": h.idempotency_retention_ms,
        "journal_retention": h.journal_retention_ms,
        "inactivity_timeout": None if request_response else h.inactivity_timeout_ms,
        "abort_timeout": h.abort_timeout_ms,
    }
    return {k: friendly_duration(v) for k, v in values.items() if v is not None}


def handler_metadata(h: HandlerSchema, protocol_type: ProtocolType = "BidiStream") -> Json:
    """HandlerMetadata; `ty` is left out for plain services."""
    rr = protocol_type == "RequestResponse"
    out: Json = {"name": h.name}
    if h.ty is not None:
        out["ty"] = h.ty
    if h.documentation is not None:
        out["documentation"] = h.documentation
    if h.metadata:
        out["metadata"] = dict(h.metadata)
    out.update(_optional_durations(h, rr))
    if h.enable_lazy_state is not None:
        out["enable_lazy_state"] = h.enable_lazy_state
    out["public"] = h.public
    out["input_description"] = input_description(h.input)
    out["output_description"] = output_description(h.output)
    if (in_schema := input_json_schema(h.input)) is not None:
        out["input_json_schema"] = in_schema
    if h.output.json_schema is not None:
        out["output_json_schema"] = h.output.json_schema
    out["retry_policy"] = _handler_retry_policy(h.retry_policy)
    if rr and h.inactivity_timeout_ms is not None:
        out["info"] = _rr_info("handler", h.inactivity_timeout_ms)
    return out


def _service_retry_policy(policy: RetryPolicy, config: Config) -> Json:
    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return {
        "initial_interval": friendly_duration(pick(policy.initial_interval_ms, config.retry_initial_interval_ms)),
        "exponentiation_factor": float(pick(policy.exponentiation_factor, config.retry_exponentiation_factor)),
        "max_attempts": pick(policy.max_attempts, config.retry_max_attempts),
        "max_interval": friendly_duration(pick(policy.max_interval_ms, config.retry_max_interval_ms)),
        "on_max_attempts": pick(policy.on_max_attempts, "Pause"),
    }


def _workflow_completion_retention(svc: ServiceSchema) -> int:
    for h in svc.handlers.values():
        if h.workflow_completion_retention_ms is not None:
            return h.workflow_completion_retention_ms
    if svc.workflow_completion_retention_ms is not None:
        return svc.workflow_completion_retention_ms
    return DEFAULT_RETENTION_MS


def service_metadata(svc: ServiceSchema, protocol_type: ProtocolType, config: Config) -> Json:
    """ServiceMetadata as served by a deployment of `protocol_type` (RequestResponse: inactivity "0s")."""
    rr = protocol_type == "RequestResponse"
    out: Json = {
        "name": svc.name,
        "ty": svc.ty,
        "handlers": [handler_metadata(h, protocol_type) for h in svc.handlers.values()],
    }
    if svc.documentation is not None:
        out["documentation"] = svc.documentation
    if svc.metadata:
        out["metadata"] = dict(svc.metadata)
    out["deployment_id"] = svc.deployment_id
    out["revision"] = svc.revision
    out["public"] = svc.public
    idempotency = svc.idempotency_retention_ms
    out["idempotency_retention"] = friendly_duration(DEFAULT_RETENTION_MS if idempotency is None else idempotency)
    if svc.ty == "Workflow":
        out["workflow_completion_retention"] = friendly_duration(_workflow_completion_retention(svc))
    journal = svc.journal_retention_ms
    out["journal_retention"] = friendly_duration(DEFAULT_RETENTION_MS if journal is None else journal)
    inactivity = config.inactivity_timeout_ms if svc.inactivity_timeout_ms is None else svc.inactivity_timeout_ms
    out["inactivity_timeout"] = friendly_duration(0 if rr else inactivity)
    abort = config.abort_timeout_ms if svc.abort_timeout_ms is None else svc.abort_timeout_ms
    out["abort_timeout"] = friendly_duration(abort)
    out["enable_lazy_state"] = svc.enable_lazy_state
    out["retry_policy"] = _service_retry_policy(svc.retry_policy, config)
    if rr and svc.inactivity_timeout_ms is not None:
        out["info"] = _rr_info("service", svc.inactivity_timeout_ms)
    return out


def protocol_type_of(schema: Schema, svc: ServiceSchema) -> ProtocolType:
    deployment = schema.deployments.get(svc.deployment_id)
    return "BidiStream" if deployment is None else deployment.protocol_type


def service_view(schema: Schema, svc: ServiceSchema, config: Config) -> Json:
    return service_metadata(svc, protocol_type_of(schema, svc), config)


def _deployment_head(dep: Deployment) -> Json:
    out: Json = {
        "id": dep.id,
        "uri": dep.uri,
        "protocol_type": dep.protocol_type,
        "http_version": dep.http_version,
    }
    if dep.additional_headers:
        out["additional_headers"] = dict(dep.additional_headers)
    if dep.metadata:
        out["metadata"] = dict(dep.metadata)
    out["created_at"] = timestamp(dep.created_at_ms)
    out["min_protocol_version"] = dep.min_protocol_version
    out["max_protocol_version"] = dep.max_protocol_version
    if dep.sdk_version is not None:
        out["sdk_version"] = dep.sdk_version
    return out


def deployment_summary(dep: Deployment) -> Json:
    """An entry of `GET /deployments`: services as {name, revision} pairs."""
    out = _deployment_head(dep)
    out["services"] = [{"name": name, "revision": rev} for name, rev in dep.services.items()]
    return out


def deployment_detail(schema: Schema, dep: Deployment, config: Config) -> Json:
    """`GET /deployments/{id}`: the summary fields with full ServiceMetadata objects."""
    out = _deployment_head(dep)
    out["services"] = [service_metadata(s, dep.protocol_type, config) for s in deployment_services(schema, dep.id)]
    return out


def register_response(schema: Schema, deployment_id: str, config: Config) -> Json:
    """RegisterDeploymentResponse for the deployment as it is in `schema`."""
    dep = schema.deployments[deployment_id]
    services = [service_metadata(s, dep.protocol_type, config) for s in deployment_services(schema, deployment_id)]
    out: Json = {"id": dep.id, "services": services}
    out["min_protocol_version"] = dep.min_protocol_version
    out["max_protocol_version"] = dep.max_protocol_version
    if dep.sdk_version is not None:
        out["sdk_version"] = dep.sdk_version
    return out
