"""The records of format 2 that format 3 replaced, frozen: how to read them and turn them into format 3.

Format 2 stored the metadata store's registry as admin's registry model (restate/schema.py of that release,
a map by field name) inside `SchemaRecord` version 2. In partition shards, format 3 added the trace context
to `InvocationStatus` and `OutboxInvocation` (both records at version 3). Every other record of format 2
is still current. These copies of its structs must never change: they are how its bytes are read (the
values inside them that format 3 did not change are the current records').
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from restate.storage import records as r

# --- restate/schema.py of format 2 (maps by field name, defaults left out) -----------------------------------


class RetryPolicy(msgspec.Struct, frozen=True, omit_defaults=True):
    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: Literal["Pause", "Kill"] | None = None


class InputRules(msgspec.Struct, frozen=True, omit_defaults=True):
    required: bool = False
    content_type: str | None = "*/*"
    json_schema: object | None = None
    accepts_none: bool = False


class OutputRules(msgspec.Struct, frozen=True, omit_defaults=True):
    content_type: str | None = None
    set_content_type_if_empty: bool = False
    json_schema: object | None = None


class HandlerSchema(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    ty: Literal["Exclusive", "Shared", "Workflow"] | None = None
    input: InputRules = InputRules()
    output: OutputRules = OutputRules()
    public: bool = True
    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    ingress_private: bool | None = None


class ServiceSchema(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    ty: Literal["Service", "VirtualObject", "Workflow"]
    handlers: dict[str, HandlerSchema]
    deployment_id: str
    revision: int = 1
    public: bool = True
    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool = False
    retry_policy: RetryPolicy = RetryPolicy()


class Deployment(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    uri: str
    protocol_type: Literal["BidiStream", "RequestResponse"]
    http_version: Literal["HTTP/2.0", "HTTP/1.1"]
    created_at_ms: int
    min_protocol_version: int
    max_protocol_version: int
    sdk_version: str | None = None
    additional_headers: dict[str, str] = {}
    metadata: dict[str, str] = {}
    services: dict[str, int] = {}


class Schema(msgspec.Struct, frozen=True, omit_defaults=True):
    version: int = 0
    deployments: dict[str, Deployment] = {}
    services: dict[str, ServiceSchema] = {}
    superseded: list[ServiceSchema] = []


class SchemaRecord(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag=2, tag_field="v"):
    """KeyKind.META `schema` of format 2 (format 1 stored the `Schema` alone)."""

    schema: Schema


_schema_decoder = msgspec.msgpack.Decoder(SchemaRecord)


# --- format 2 -> format 3 -------------------------------------------------------------------------------------


def _retry_policy(p: RetryPolicy) -> r.RetryPolicyRecord:
    found = r.RetryPolicyRecord(
        initial_interval_ms=p.initial_interval_ms,
        max_interval_ms=p.max_interval_ms,
        max_attempts=p.max_attempts,
        exponentiation_factor=p.exponentiation_factor,
        on_max_attempts=p.on_max_attempts,
    )
    return r.shared_default(found, r.NO_RETRY_POLICY)


def _handler(h: HandlerSchema) -> r.HandlerRecord:
    return r.HandlerRecord(
        name=h.name,
        ty=h.ty,
        input=r.shared_default(
            r.InputRulesRecord(
                required=h.input.required,
                content_type=h.input.content_type,
                json_schema=h.input.json_schema,
                accepts_none=h.input.accepts_none,
            ),
            r.DEFAULT_INPUT,
        ),
        output=r.shared_default(
            r.OutputRulesRecord(
                content_type=h.output.content_type,
                set_content_type_if_empty=h.output.set_content_type_if_empty,
                json_schema=h.output.json_schema,
            ),
            r.DEFAULT_OUTPUT,
        ),
        public=h.public,
        documentation=h.documentation,
        metadata=dict(h.metadata),
        inactivity_timeout_ms=h.inactivity_timeout_ms,
        abort_timeout_ms=h.abort_timeout_ms,
        journal_retention_ms=h.journal_retention_ms,
        idempotency_retention_ms=h.idempotency_retention_ms,
        workflow_completion_retention_ms=h.workflow_completion_retention_ms,
        enable_lazy_state=h.enable_lazy_state,
        retry_policy=_retry_policy(h.retry_policy),
        ingress_private=h.ingress_private,
    )


def _service(svc: ServiceSchema) -> r.ServiceRecord:
    return r.ServiceRecord(
        name=svc.name,
        ty=svc.ty,
        handlers=[_handler(h) for h in svc.handlers.values()],
        deployment_id=svc.deployment_id,
        revision=svc.revision,
        public=svc.public,
        documentation=svc.documentation,
        metadata=dict(svc.metadata),
        inactivity_timeout_ms=svc.inactivity_timeout_ms,
        abort_timeout_ms=svc.abort_timeout_ms,
        journal_retention_ms=svc.journal_retention_ms,
        idempotency_retention_ms=svc.idempotency_retention_ms,
        workflow_completion_retention_ms=svc.workflow_completion_retention_ms,
        enable_lazy_state=svc.enable_lazy_state,
        retry_policy=_retry_policy(svc.retry_policy),
    )


def _deployment(d: Deployment) -> r.DeploymentRecord:
    return r.DeploymentRecord(
        id=d.id,
        uri=d.uri,
        protocol_type=d.protocol_type,
        http_version=d.http_version,
        created_at_ms=d.created_at_ms,
        min_protocol_version=d.min_protocol_version,
        max_protocol_version=d.max_protocol_version,
        sdk_version=d.sdk_version,
        additional_headers=dict(d.additional_headers),
        metadata=dict(d.metadata),
        services=dict(d.services),
    )


def schema_record(old: Schema) -> r.SchemaRecord:
    """The registry of format 2 (or 1: the same `Schema`) as the current record."""
    return r.SchemaRecord(
        version=old.version,
        deployments=[_deployment(d) for d in old.deployments.values()],
        services=[_service(svc) for svc in old.services.values()],
        superseded=[_service(svc) for svc in old.superseded],
    )


def schema(raw: bytes) -> r.SchemaRecord:
    return schema_record(_schema_decoder.decode(raw).schema)


# --- the partition records of format 2 that format 3 changed ------------------------------------------------


class InvocationStatus(msgspec.Struct, kw_only=True, omit_defaults=True, tag=2, tag_field="v", rename={
    "target": "t", "created_at_ms": "c", "modified_at_ms": "m", "state": "st", "journal": "j", "deployment_id": "d",
    "protocol_version": "pv", "origin": "o", "caller_id": "by", "idempotency_key": "ik",
}):  # fmt: skip
    target: r.InvocationTarget
    created_at_ms: int
    modified_at_ms: int
    state: r.InvocationState
    journal: r.JournalIndex
    deployment_id: str | None = None
    protocol_version: int | None = None
    origin: r.IngressWaiter | None = None
    caller_id: bytes | None = None
    idempotency_key: str | None = None


_OUTBOX_INVOCATION_TAGS = {
    "invocation_id": "i", "target": "t", "input": "in", "headers": "h", "idempotency_key": "ik",
    "execute_at_ms": "at", "caller": "c", "caller_id": "by",
}  # fmt: skip


class OutboxInvocation(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag="invocation", tag_field="k",
                       rename=_OUTBOX_INVOCATION_TAGS):  # fmt: skip
    invocation_id: bytes
    target: r.InvocationTarget
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: r.CallerWaiter | None = None
    caller_id: bytes | None = None


class OutboxRecord(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag=2, tag_field="v",
                   rename={"message": "m"}):  # fmt: skip
    message: OutboxInvocation | r.OutboxResponse | r.OutboxSignal | r.OutboxAttach


_status_decoder = msgspec.msgpack.Decoder(InvocationStatus)
_outbox_decoder = msgspec.msgpack.Decoder(OutboxRecord)


def status(raw: bytes) -> r.InvocationStatus:
    old = _status_decoder.decode(raw)
    return r.InvocationStatus(**{f: getattr(old, f) for f in old.__struct_fields__})


def outbox(raw: bytes) -> r.OutboxRecord:
    message = _outbox_decoder.decode(raw).message
    if isinstance(message, OutboxInvocation):
        return r.OutboxRecord(message=r.OutboxInvocation(**{f: getattr(message, f) for f in message.__struct_fields__}))
    return r.OutboxRecord(message=message)


def as_v2(record: msgspec.Struct) -> msgspec.Struct:
    """A status or outbox record as format 2 wrote it (the upgrade from format 1 writes format 2 first)."""
    if isinstance(record, r.InvocationStatus):
        fields = {f: getattr(record, f) for f in InvocationStatus.__struct_fields__}
        return InvocationStatus(**fields)
    if isinstance(record, r.OutboxRecord):
        message = record.message
        if isinstance(message, r.OutboxInvocation):
            fields = {f: getattr(message, f) for f in OutboxInvocation.__struct_fields__}
            return OutboxRecord(message=OutboxInvocation(**fields))
        return OutboxRecord(message=message)
    return record


#: Each record kind's format-2 reader (the kinds format 3 changed).
READERS: dict[str, Callable[[bytes], msgspec.Struct]] = {"schema": schema, "status": status, "outbox": outbox}
