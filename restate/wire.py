"""Every message that crosses a process boundary over ZeroMQ, as msgspec tagged unions (msgpack)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from restate.kafka.definitions import KafkaRegistry, ParkedRecord
from restate.schema import Schema

ServiceTy = Literal["service", "virtual_object", "workflow"]


class Target(msgspec.Struct, frozen=True, array_like=True):
    """The handler an invocation runs; `key` is set for objects and workflows."""

    service: str
    handler: str
    key: str | None = None
    service_ty: ServiceTy = "service"
    exclusive: bool = False

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


class Failure(msgspec.Struct, frozen=True, array_like=True):
    code: int
    message: str
    metadata: list[tuple[str, str]] = []
    stacktrace: str | None = None  # from a deployment's ErrorMessage, shown separately by the ingress


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    """The result of an invocation: exactly one of value / failure is set."""

    value: bytes | None = None
    failure: Failure | None = None


class IngressSink(msgspec.Struct, frozen=True, array_like=True):
    """Where to send an invocation's outcome on the ingress: the node name and its request id."""

    node: str
    request_id: int


CALL_COMPLETION = 0x800D
ATTACH_COMPLETION = 0x8012
GET_OUTPUT_COMPLETION = 0x8013


class CallerSink(msgspec.Struct, frozen=True, array_like=True):
    """An invocation waiting for another's outcome on one of its completion ids.

    `kind` is the notification type it expects: a call's result, an attach, or a get-output."""

    invocation_id: bytes
    completion_id: int
    kind: int = CALL_COMPLETION


class TraceContext(msgspec.Struct, frozen=True, array_like=True):
    """An invocation's place in a W3C trace (restate/tracing/trace_context.py): its trace, the parent of its
    invocation-start span (None: a root), the `tracestate`, and the span a linked trace points to."""

    trace_id: bytes  # 16 bytes
    parent_span_id: bytes | None = None  # 8 bytes
    trace_state: str = ""
    link_trace_id: bytes | None = None
    link_span_id: bytes | None = None


class InvocationRequest(msgspec.Struct, tag="request", frozen=True, array_like=True):
    """Everything needed to create an invocation, wherever it comes from."""

    invocation_id: bytes
    target: Target
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: CallerSink | None = None
    caller_id: bytes | None = None  # set for one-way sends from an invocation (for introspection)
    trace: TraceContext | None = None  # set when tracing is on


# --- ingress -> partition -----------------------------------------------------------------------


class Invoke(msgspec.Struct, tag="invoke", frozen=True, array_like=True):
    """Create (or attach to) an invocation. `send=True` answers Accepted once durable."""

    request_id: int
    request: InvocationRequest
    send: bool = False


class IngestRecord(msgspec.Struct, frozen=True, array_like=True):
    """A Kafka record turned into an invocation request; `offset` is its offset in its topic partition."""

    offset: int
    request: InvocationRequest


class Ingest(msgspec.Struct, tag="ingest", frozen=True, array_like=True):
    """Records of one Kafka topic partition (`producer`: subscription, group, topic, partition) for this
    partition, in offset order: each becomes an invocation once, records at or below the last offset applied
    are skipped. Answered with Done once durable."""

    request_id: int
    producer: str
    records: list[IngestRecord]


# --- partition -> ingress -----------------------------------------------------------------------


class Accepted(msgspec.Struct, tag="accepted", frozen=True, array_like=True):
    request_id: int
    invocation_id: bytes
    previously_accepted: bool = False
    execute_at_ms: int | None = None


class InvocationDone(msgspec.Struct, tag="done", frozen=True, array_like=True):
    request_id: int
    invocation_id: bytes
    outcome: Outcome
    expires_at_ms: int | None = None  # when the stored result will be purged (for `idempotency-expires`)
    replayed: bool = False  # the result was stored before this request arrived (attach, repeated key)


class NotReady(msgspec.Struct, tag="not_ready", frozen=True, array_like=True):
    """Answer to a non-waiting OutputRequest: the invocation exists but has not completed (470)."""

    request_id: int
    invocation_id: bytes


class NotFound(msgspec.Struct, tag="not_found", frozen=True, array_like=True):
    """The addressed invocation does not exist (or was purged)."""

    request_id: int


class Done(msgspec.Struct, tag="ok", frozen=True, array_like=True):
    """A request without a result was applied durably (awakeable resolution, state mutation)."""

    request_id: int


class CommandResult(msgspec.Struct, tag="command_result", frozen=True, array_like=True):
    """Outcome of an invocation management command, as the admin API reports it (HTTP-API.md 2.2, 2.6)."""

    request_id: int
    status: int  # 200, 202, 404, 409, 425
    message: str | None = None  # the admin error message for non-2xx


# --- ingress/admin -> partition: requests about existing invocations -------------------------------


class OutputRequest(msgspec.Struct, tag="output", frozen=True, array_like=True):
    """Attach (`wait=True`: answer InvocationDone when it completes) or get the output now
    (`wait=False`: InvocationDone, NotReady or NotFound)."""

    request_id: int
    invocation_id: bytes
    wait: bool


class ResolveAwakeable(msgspec.Struct, tag="resolve_awakeable", frozen=True, array_like=True):
    """Complete an awakeable (signal `signal_idx` of an invocation); answered with Done once durable."""

    request_id: int
    invocation_id: bytes
    signal_idx: int
    outcome: Outcome


InvocationOp = Literal["cancel", "kill", "pause", "resume", "purge", "purge_journal"]


class ManageInvocation(msgspec.Struct, tag="manage", frozen=True, array_like=True):
    """An admin command on one invocation; answered with CommandResult."""

    request_id: int
    invocation_id: bytes
    op: InvocationOp


class ReplaceObjectState(msgspec.Struct, tag="replace_state", frozen=True, array_like=True):
    """Replace the whole state of one object key, queued behind invocations holding its lock.

    `version` (the CLI's digest of the current state) must match when given, or the mutation is dropped.
    Answered with Done once accepted durably."""

    request_id: int
    service: str
    key: str
    new_state: list[tuple[bytes, bytes]]
    version: str | None = None


# --- partition <-> partition (outbox) ------------------------------------------------------------


class InvocationResponse(msgspec.Struct, tag="response", frozen=True, array_like=True):
    """The outcome of a callee, delivered to the caller's completion id."""

    caller: CallerSink
    outcome: Outcome


class Signal(msgspec.Struct, tag="signal", frozen=True, array_like=True):
    """A signal (cancel = idx 1, awakeable completion = idx >= 17, or a named signal) for an invocation."""

    invocation_id: bytes
    idx: int | None = None
    name: str | None = None
    outcome: Outcome | None = None  # None = void


class AttachOutput(msgspec.Struct, tag="attach_output", frozen=True, array_like=True):
    """A handler attaches to (or reads the output of) another invocation; answered with InvocationResponse.

    A get-output of an unfinished invocation is answered with an empty Outcome (void)."""

    invocation_id: bytes
    caller: CallerSink


OutboxMessage = InvocationRequest | InvocationResponse | Signal | AttachOutput


class OutboxEnvelope(msgspec.Struct, tag="outbox", frozen=True, array_like=True):
    """An outbox entry shipped from partition `source`; the receiver dedups on (source, seq)."""

    source: int
    seq: int
    message: OutboxMessage


class OutboxAck(msgspec.Struct, tag="outbox_ack", frozen=True, array_like=True):
    """The receiver has durably applied every envelope from the addressee up to `seq`."""

    seq: int


# --- admin <-> everyone -----------------------------------------------------------------------------


class GetSchema(msgspec.Struct, tag="get_schema", frozen=True, array_like=True):
    """Ask admin for the current schema (sent on start so nobody misses a version)."""


class SchemaUpdate(msgspec.Struct, tag="schema", frozen=True, array_like=True):
    schema: Schema


class SchemaAck(msgspec.Struct, tag="schema_ack", frozen=True, array_like=True):
    version: int


class PeerReady(msgspec.Struct, tag="peer_ready", frozen=True, array_like=True):
    """A partition process has (re)started and recovered: what was sent to it and not answered may have
    died with its predecessor, so its peers re-send that now instead of waiting for their re-send timers."""

    name: str


# --- admin <-> kafka: the Kafka registry --------------------------------------------------------------


class GetKafkaRegistry(msgspec.Struct, tag="get_kafka", frozen=True, array_like=True):
    """Ask admin for the current Kafka registry (sent by the Kafka process until one arrives)."""


class KafkaRegistryUpdate(msgspec.Struct, tag="kafka", frozen=True, array_like=True):
    registry: KafkaRegistry


class ParkRecord(msgspec.Struct, tag="park", frozen=True, array_like=True):
    """The Kafka process parks a record it cannot turn into an invocation; admin stores it and answers Done
    (the record's offset is committed only then). Re-sent until answered; a repeat is stored once."""

    request_id: int
    record: ParkedRecord


# --- admin (SQL introspection) <-> partition ---------------------------------------------------------

ScanOp = Literal["in", "not_in", "prefix"]


class ScanFilter(msgspec.Struct, frozen=True, array_like=True):
    """A pushed-down condition on one column: it equals one of `values` (`in`), none of them (`not_in`),
    or starts with `values[0]` (`prefix`). Partitions may return rows that fail it; never drop one that passes."""

    column: str
    op: ScanOp
    values: list[str | int]


class ScanTable(msgspec.Struct, tag="scan_table", frozen=True, array_like=True):
    """Read one introspection table (`sys_invocation`, `sys_journal`, `state`, ...) from a store snapshot.

    Read-only and answered directly (no state machine) with TableRows; `columns` None = all of them,
    `limit` bounds the rows of this partition."""

    request_id: int
    table: str
    filters: list[ScanFilter] = []
    columns: list[str] | None = None
    limit: int | None = None
    order_by: str | None = None  # with `limit`: the rows with the `limit` best values of this column (ties too)
    descending: bool = False


class TableRows(msgspec.Struct, tag="table_rows", frozen=True, array_like=True):
    """The answer to ScanTable: column-major values (timestamps and durations as milliseconds).

    `error` is set when the partition could not read the table (the values are then empty); `count` is the
    number of rows (what a scan without columns, e.g. for `COUNT(*)`, answers); with `repeats`, the i-th
    row of `values` stands for `repeats[i]` equal rows (a scan counted by a few columns)."""

    request_id: int
    columns: list[str]
    values: list[list[Any]]
    error: str | None = None
    count: int | None = None
    repeats: list[int] | None = None


# --- cluster mode: a partition replica <-> another node's replica of the same partition --------------------


class SnapshotAsk(msgspec.Struct, tag="snapshot_ask", frozen=True, array_like=True):
    """The next chunk of a snapshot of the receiver's shard (docs/cluster.md, "Snapshots"): `seq` 0 opens
    transfer `transfer` (a consistent point-in-time view, kept while the transfer goes on); each later ask
    continues with the keys after `after`. A re-sent ask is answered again, with the same chunk."""

    transfer: int
    partition: int
    seq: int
    after: bytes = b""


class SnapshotPart(msgspec.Struct, tag="snapshot_part", frozen=True, array_like=True):
    """The answer to SnapshotAsk: `data` is one encoded restate.cluster.snapshot_format.SnapshotChunk (its
    own versioned format), or `error` says why there is none."""

    transfer: int
    seq: int
    data: bytes = b""
    error: str | None = None


Message = (
    Invoke
    | Ingest
    | Accepted
    | InvocationDone
    | NotReady
    | NotFound
    | Done
    | CommandResult
    | OutputRequest
    | ResolveAwakeable
    | ManageInvocation
    | ReplaceObjectState
    | OutboxEnvelope
    | OutboxAck
    | GetSchema
    | SchemaUpdate
    | SchemaAck
    | PeerReady
    | ScanTable
    | TableRows
    | GetKafkaRegistry
    | KafkaRegistryUpdate
    | ParkRecord
    | SnapshotAsk
    | SnapshotPart
)


class Batch(msgspec.Struct, tag="batch", frozen=True, array_like=True):
    """Several messages for the same peer in one transport message (each already encoded)."""

    messages: list[msgspec.Raw]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message | Batch)
_single_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def encode_batch(encoded: list[bytes]) -> bytes:
    return _encoder.encode(Batch([msgspec.Raw(m) for m in encoded]))


def decode(data: bytes) -> list[Message]:
    """Decodes one transport message (a single message or a batch); raises msgspec.DecodeError on bad input."""
    decoded = _decoder.decode(data)
    if isinstance(decoded, Batch):
        return [_single_decoder.decode(raw) for raw in decoded.messages]
    return [decoded]
