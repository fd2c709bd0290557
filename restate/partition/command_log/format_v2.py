"""Version 2 of the log entry format: version 1 plus the trace context of an invocation request.

Frozen once released (see format_v1.py). The structs version 2 did not change are version 1's, imported
(they are frozen there); those that carry an invocation request are redefined here."""

from __future__ import annotations

from restate.partition.command_log import format_v1 as v1

VERSION = 2


class TraceContext(v1._Value, frozen=True):
    trace_id: bytes
    parent_span_id: bytes | None = None
    trace_state: str = ""
    link_trace_id: bytes | None = None
    link_span_id: bytes | None = None


class InvocationRequest(v1._Value, frozen=True, tag="invocation_request", tag_field="type"):
    invocation_id: bytes
    target: v1.Target
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: v1.CallerSink | None = None
    caller_id: bytes | None = None
    trace: TraceContext | None = None


OutboxMessage = InvocationRequest | v1.InvocationResponse | v1.Signal | v1.AttachOutput


class Invoke(v1._Value, frozen=True, tag="invoke", tag_field="type"):
    request: InvocationRequest
    sink: v1.IngressSink | None = None
    send: bool = False


class Outbox(v1._Value, frozen=True, tag="outbox", tag_field="type"):
    source: int
    seq: int
    message: OutboxMessage


Command = (
    Invoke | Outbox | v1.RequestFrom | v1.OutboxAck | v1.TimerFired | v1.SdkMessage | v1.Suspended | v1.End
    | v1.AttemptFailed
)  # fmt: skip


class Entry(v1._Value, frozen=True):
    """A log entry: `v` is the format version (always written, read first)."""

    v: int
    partition: int
    num_partitions: int
    now_ms: int
    schema_version: int
    protocol_v7: bool
    commands: list[Command]

