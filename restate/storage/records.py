"""The stored values of the current store format: one struct per kind of value, encoded as a msgpack map.

Every top-level record carries its format version in the field `v` (a msgspec tag, written first and
checked on decode). Fields are keyed by short tags (`rename`, listed in docs/storage.md): a status is
rewritten by nearly every command, and its size is LevelDB's work. These structs belong to the storage
layer alone: nothing here imports the IPC messages (`restate.wire`) or the state machine's commands, so a
change to those cannot change what is on disk. The partition's state machine works on these structs
directly (its model IS the stored model). They are trees, never cycles, so the GC does not track them.

Changing one: see docs/storage.md, "How to change a format" (freeze the released struct in a `legacy_v<N>`
module, bump its `v`, add the upgrade step and the golden fixtures of the new version).
"""

from __future__ import annotations

from typing import Final, Literal, TypeVar

import msgspec

ServiceType = Literal["service", "virtual_object", "workflow"]
StatusName = Literal["scheduled", "inboxed", "invoked", "suspended", "paused", "completed"]

CALL_COMPLETION = 0x800D  # the notification type a caller waits for (a call's result)


class _Value(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, gc=False):
    """A value inside a record: a map of its fields' tags (defaults left out)."""


class _Mutable(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    """A part of a record the state machine changes in place (through restate.partition.transitions)."""


# --- values shared by several records ------------------------------------------------------------------


class InvocationTarget(
    _Value, frozen=True, rename={"service": "s", "handler": "h", "key": "k", "service_ty": "ty", "exclusive": "x"}
):
    """The handler an invocation runs; `key` is set for virtual objects and workflows."""

    service: str
    handler: str
    key: str | None = None
    service_ty: ServiceType = "service"
    exclusive: bool = False

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


class FailureRecord(_Value, frozen=True, rename={"code": "c", "message": "m", "metadata": "md", "stacktrace": "st"}):
    code: int
    message: str
    metadata: list[tuple[str, str]] = []
    stacktrace: str | None = None


class OutcomeRecord(_Value, frozen=True, rename={"value": "ok", "failure": "err"}):
    """An invocation's (or a promise's) result: a value, a failure, or neither (void)."""

    value: bytes | None = None
    failure: FailureRecord | None = None


class IngressWaiter(_Value, frozen=True, rename={"node": "n", "request_id": "r"}):
    """An ingress request waiting for an invocation's outcome: the ingress node and its request id."""

    node: str
    request_id: int


class CallerWaiter(_Value, frozen=True, rename={"invocation_id": "i", "completion_id": "c", "kind": "k"}):
    """An invocation waiting for another's outcome on one of its completion ids; `kind` is the
    notification type it expects (a call's result, an attach, a get-output)."""

    invocation_id: bytes
    completion_id: int
    kind: int = CALL_COMPLETION


class TraceRecord(
    _Value,
    frozen=True,
    rename={"trace_id": "t", "parent_span_id": "p", "trace_state": "s", "link_trace_id": "lt", "link_span_id": "ls"},
):
    """An invocation's place in a W3C trace (restate/tracing/trace_context.py): the trace, the parent span of
    its invocation-start span (None: a root), the `tracestate`, and the span a linked trace points to."""

    trace_id: bytes
    parent_span_id: bytes | None = None
    trace_state: str = ""
    link_trace_id: bytes | None = None
    link_span_id: bytes | None = None


# --- the invocation status: common fields + one typed state ------------------------------------------------


class JournalIndex(
    _Mutable,
    rename={
        "length": "n",
        "commands": "cmd",
        "last_appended_at_ms": "at",
        "completions": "cp",
        "failed_completions": "cf",
        "signals": "sg",
        "signal_names": "sn",
        "output": "out",
    },
):
    """What the partition knows about an invocation's journal without reading it."""

    length: int = 0  # entries stored, the input included
    commands: int = 0  # of them commands sent by the deployment (the next command's index)
    last_appended_at_ms: int = 0
    completions: list[int] = []  # completion ids that have a notification in the journal
    failed_completions: list[int] = []  # those of them whose result is a failure
    signals: list[int] = []  # signal indexes notified (awakeables, cancel)
    signal_names: list[str] = []
    output: OutcomeRecord | None = None  # the last OutputCommand's result, the outcome once the attempt ends


class Attempts(_Mutable, rename={"number": "n", "retry_count": "rc", "last_failure": "lf"}):
    """The attempts made so far, kept while the invocation runs, backs off, suspends or pauses."""

    number: int = 0  # of the current (or last) attempt; effects of older attempts are void
    retry_count: int = 0  # attempts that failed
    last_failure: str | None = None  # "[code] message" of the last failed attempt


class _Waiting(_Mutable, rename={"ingress": "wi", "callers": "wc"}):
    """Who waits for the outcome of an invocation that has not completed."""

    ingress: list[IngressWaiter] = []
    callers: list[CallerWaiter] = []


class Scheduled(
    _Waiting,
    tag="scheduled",
    tag_field="s",
    kw_only=True,
    rename={"execute_at_ms": "at"},
):
    """Created with a delay: a start timer runs it at `execute_at_ms`."""

    execute_at_ms: int


class Inboxed(_Waiting, tag="inboxed", tag_field="s", kw_only=True, rename={"inbox_seq": "seq"}):
    """Waiting in its key's inbox for the invocation holding the key's lock."""

    inbox_seq: int


class Invoked(
    _Waiting,
    tag="invoked",
    tag_field="s",
    kw_only=True,
    rename={"attempts": "a", "poisoned": "p"},
):
    """An attempt runs; none has failed yet."""

    attempts: Attempts
    poisoned: bool = False  # the attempt broke a precondition: its messages are ignored until it ends


class BackingOff(
    _Waiting,
    tag="backing-off",
    tag_field="s",
    kw_only=True,
    rename={"attempts": "a", "retry_at_ms": "at", "poisoned": "p"},
):
    """An attempt failed: the next one starts at `retry_at_ms` (and runs in this state: the invoker
    does not tell the partition when a retry starts) until the invocation suspends, pauses or completes."""

    attempts: Attempts
    retry_at_ms: int
    poisoned: bool = False


class Suspended(
    _Waiting,
    tag="suspended",
    tag_field="s",
    kw_only=True,
    rename={"attempts": "a", "awaiting": "aw"},
):
    """No attempt runs until a notification resolves `awaiting` (a serialized protocol Future)."""

    attempts: Attempts
    awaiting: bytes


class Paused(_Waiting, tag="paused", tag_field="s", kw_only=True, rename={"attempts": "a"}):
    """Stopped by an operator or after its last retry; it runs again when resumed (or cancelled)."""

    attempts: Attempts


class Completed(
    _Mutable, tag="completed", tag_field="s", kw_only=True, rename={"outcome": "o", "expires_at_ms": "exp"}
):
    """Done: the outcome is kept for attach / idempotency until `expires_at_ms`."""

    outcome: OutcomeRecord
    expires_at_ms: int


RunningState = Invoked | BackingOff
# For isinstance on hot paths (a tuple is about twice as fast as a `|` union there).
RUNNING: Final = (Invoked, BackingOff)  # an attempt runs or is about to
NOT_STARTED: Final = (Scheduled, Inboxed)
WaitingState = Scheduled | Inboxed | Invoked | BackingOff | Suspended | Paused
InvocationState = Scheduled | Inboxed | Invoked | BackingOff | Suspended | Paused | Completed

STATUS_NAMES: dict[type, StatusName] = {
    Scheduled: "scheduled",
    Inboxed: "inboxed",
    Invoked: "invoked",
    BackingOff: "invoked",  # the real server's partition status for a retrying invocation
    Suspended: "suspended",
    Paused: "paused",
    Completed: "completed",
}


STATUS_TAGS = {
    "target": "t", "created_at_ms": "c", "modified_at_ms": "m", "state": "st", "journal": "j", "deployment_id": "d",
    "protocol_version": "pv", "origin": "o", "caller_id": "by", "idempotency_key": "ik", "trace": "tr",
}  # fmt: skip


_NO_ATTEMPTS: Final = (Scheduled, Inboxed, Completed)


def status_name(state: InvocationState) -> StatusName:
    return STATUS_NAMES[type(state)]


class InvocationStatus(_Mutable, tag=3, tag_field="v", kw_only=True, rename=STATUS_TAGS):
    """One invocation (KeyKind.STATUS): the fields every state has, and its typed `state`."""

    target: InvocationTarget
    created_at_ms: int
    modified_at_ms: int
    state: InvocationState
    journal: JournalIndex
    deployment_id: str | None = None  # pinned by the first attempt, with the protocol version
    protocol_version: int | None = None
    origin: IngressWaiter | None = None  # the ingress request that created it (a re-send is recognised)
    caller_id: bytes | None = None  # the invocation that sent or called it
    idempotency_key: str | None = None
    trace: TraceRecord | None = None  # set when it was created with tracing on (version 3)

    @property
    def status(self) -> StatusName:
        """The partition's name of the state (`sys_invocation_status.status`)."""
        return STATUS_NAMES[type(self.state)]

    @property
    def waiting(self) -> WaitingState | None:
        """The state while it has not completed (None once completed)."""
        state = self.state
        return None if isinstance(state, Completed) else state

    @property
    def attempt(self) -> int:
        """The number of the current (or last) attempt; 0 before the first."""
        state = self.state
        return 0 if isinstance(state, _NO_ATTEMPTS) else state.attempts.number


class LiveRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"status": "s"}):
    """KeyKind.LIVE: an invocation not completed, by id (recovery reads only these)."""

    status: StatusName


# --- the other partition tables ------------------------------------------------------------------------------


class QueuedInvocation(_Value, frozen=True, tag="invocation", tag_field="k", rename={"invocation_id": "i"}):
    invocation_id: bytes


class QueuedStateReplacement(
    _Value, frozen=True, tag="state_replacement", tag_field="k", rename={"new_state": "st", "version": "ver"}
):
    """A whole-state replacement queued behind the invocation holding the key's lock."""

    new_state: list[tuple[bytes, bytes]]
    version: str | None = None  # the state's digest it expects (dropped when the state changed since)


class InboxRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"item": "e"}):
    """KeyKind.INBOX: what waits for a key, in sequence order."""

    item: QueuedInvocation | QueuedStateReplacement


class LockRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"invocation_id": "i"}):
    """KeyKind.LOCK: the invocation holding a virtual object's or workflow's key."""

    invocation_id: bytes


class TimerRecord(_Value, frozen=True, tag=2, tag_field="v"):
    """KeyKind.TIMERS: a durable timer; the key holds when it fires and for whom."""


class PromiseListener(_Value, frozen=True, rename={"invocation_id": "i", "completion_id": "c"}):
    invocation_id: bytes
    completion_id: int


class PromiseRecord(_Mutable, tag=2, tag_field="v", rename={"outcome": "o", "listeners": "l"}):
    """KeyKind.PROMISE: a workflow's durable promise, its outcome once completed, else who waits for it."""

    outcome: OutcomeRecord | None = None
    listeners: list[PromiseListener] = []


class OutboxInvocation(
    _Value,
    frozen=True,
    tag="invocation",
    tag_field="k",
    rename={
        "invocation_id": "i",
        "target": "t",
        "input": "in",
        "headers": "h",
        "idempotency_key": "ik",
        "execute_at_ms": "at",
        "caller": "c",
        "caller_id": "by",
        "trace": "tr",
    },
):
    """Create (or attach to) an invocation owned by another partition."""

    invocation_id: bytes
    target: InvocationTarget
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: CallerWaiter | None = None
    caller_id: bytes | None = None
    trace: TraceRecord | None = None  # version 3


class OutboxResponse(_Value, frozen=True, tag="response", tag_field="k", rename={"caller": "c", "outcome": "o"}):
    caller: CallerWaiter
    outcome: OutcomeRecord


class OutboxSignal(
    _Value,
    frozen=True,
    tag="signal",
    tag_field="k",
    rename={"invocation_id": "i", "idx": "x", "name": "n", "outcome": "o"},
):
    invocation_id: bytes
    idx: int | None = None
    name: str | None = None
    outcome: OutcomeRecord | None = None  # None: void


class OutboxAttach(_Value, frozen=True, tag="attach", tag_field="k", rename={"invocation_id": "i", "caller": "c"}):
    invocation_id: bytes
    caller: CallerWaiter


OutboxItem = OutboxInvocation | OutboxResponse | OutboxSignal | OutboxAttach


class OutboxRecord(_Value, frozen=True, tag=3, tag_field="v", rename={"message": "m"}):
    """KeyKind.OUTBOX: a message for another partition, kept until it acknowledges it."""

    message: OutboxItem


class DedupRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"seq": "s"}):
    """KeyKind.DEDUP: the last outbox sequence number applied from one producer."""

    seq: int


class SequenceRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"last": "l"}):
    """KeyKind.FSM: the last number a partition-wide sequence handed out (inbox, outbox per destination)."""

    last: int


class QueueCountsRecord(_Value, frozen=True, tag=2, tag_field="v", rename={"inbox": "i", "timers": "t"}):
    """KeyKind.FSM: how many inbox entries and timers the shard holds (so a restart need not count them)."""

    inbox: int
    timers: int


class StoreFormatRecord(_Value, frozen=True):
    """KeyKind.FSM / KeyKind.META `format`: the store-wide format version (raw values: journal frames,
    state values, are covered by it). Its own encoding never changes."""

    format: int


# --- the metadata store ----------------------------------------------------------------------------------------
# Admin's registry (restate.schema) also travels over IPC; what is stored is these records, converted field by
# field (restate.storage.meta_convert). They are keyed by field name: the registry is written once per change.

RegistryServiceType = Literal["Service", "VirtualObject", "Workflow"]
HandlerType = Literal["Exclusive", "Shared", "Workflow"]
ProtocolType = Literal["BidiStream", "RequestResponse"]
HttpVersion = Literal["HTTP/2.0", "HTTP/1.1"]
_V = TypeVar("_V")


class SettingsRecord(_Value, frozen=True, tag=2, tag_field="v"):
    """The cluster-wide settings fixed when the data directory is created."""

    num_partitions: int


class RetryPolicyRecord(_Value, frozen=True):
    """A service's or handler's retry policy; None: the server's default."""

    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: Literal["Pause", "Kill"] | None = None


#: The policy of a service or handler that configures none. msgspec leaves a struct-valued field out of the
#: encoding only when it holds its default object itself: conversions hand out these (`shared_default`).
NO_RETRY_POLICY: Final = RetryPolicyRecord()


class InputRulesRecord(_Value, frozen=True):
    """What the ingress accepts as a handler's input (`json_schema`: the manifest's, as it came)."""

    required: bool = False
    content_type: str | None = "*/*"
    json_schema: object | None = None
    accepts_none: bool = False


DEFAULT_INPUT: Final = InputRulesRecord()


class OutputRulesRecord(_Value, frozen=True):
    content_type: str | None = None
    set_content_type_if_empty: bool = False
    json_schema: object | None = None


DEFAULT_OUTPUT: Final = OutputRulesRecord()


def shared_default(value: _V, default: _V) -> _V:
    """`default` itself when `value` equals it, so that the field is left out of the encoding."""
    return default if value == default else value


class HandlerRecord(_Value, frozen=True):
    """One handler of a service revision; the durations are None when not configured."""

    name: str
    ty: HandlerType | None = None
    input: InputRulesRecord = DEFAULT_INPUT
    output: OutputRulesRecord = DEFAULT_OUTPUT
    public: bool = True
    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry_policy: RetryPolicyRecord = NO_RETRY_POLICY
    ingress_private: bool | None = None  # the manifest's own visibility; None: follows the service's


class ServiceRecord(_Value, frozen=True):
    """One revision of a service, served by `deployment_id`; handlers in the manifest's order."""

    name: str
    ty: RegistryServiceType
    handlers: list[HandlerRecord]
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
    retry_policy: RetryPolicyRecord = NO_RETRY_POLICY


class DeploymentRecord(_Value, frozen=True):
    """A registered deployment; `services`: the revision of each service it serves."""

    id: str
    uri: str
    protocol_type: ProtocolType
    http_version: HttpVersion
    created_at_ms: int
    min_protocol_version: int
    max_protocol_version: int
    sdk_version: str | None = None
    additional_headers: dict[str, str] = {}
    metadata: dict[str, str] = {}
    services: dict[str, int] = {}


class SchemaRecord(_Value, frozen=True, tag=3, tag_field="v"):
    """KeyKind.META `schema`: the registry at its `version`, deployments in registration order; `services`
    holds the active revision of each service, `superseded` the older ones a live deployment still serves."""

    version: int = 0
    deployments: list[DeploymentRecord] = []
    services: list[ServiceRecord] = []
    superseded: list[ServiceRecord] = []


# --- the Kafka registry (metadata store) ------------------------------------------------------------------------


class KafkaClusterRecord(_Value, frozen=True):
    """A Kafka cluster registered through the admin API: its librdkafka properties, secrets included."""

    name: str
    properties: dict[str, str]
    created_at_ms: int


class SubscriptionRecord(_Value, frozen=True):
    """A subscription `kafka://cluster/topic` -> `service://service/handler`, with its completed options and
    the sink's kind resolved when it was created."""

    id: str
    cluster: str
    topic: str
    service: str
    handler: str
    sink_type: Literal["service", "virtual_object", "workflow"]
    options: dict[str, str]
    exclusive: bool = False


class KafkaRegistryRecord(_Value, frozen=True, tag=1, tag_field="v"):
    """KeyKind.META `kafka`: the dynamic Kafka clusters and every subscription, at `version` (in creation order)."""

    version: int = 0
    clusters: list[KafkaClusterRecord] = []
    subscriptions: list[SubscriptionRecord] = []


class ParkedRecordRecord(_Value, frozen=True):
    """A Kafka record parked by its subscription (it could not become an invocation), bytes as they came."""

    subscription: str
    topic: str
    partition: int
    offset: int
    reason: str
    parked_at_ms: int
    key: bytes | None = None
    value: bytes | None = None
    timestamp_ms: int | None = None
    headers: list[tuple[str, bytes | None]] = []


class ParkedRecordsRecord(_Value, frozen=True, tag=1, tag_field="v"):
    """KeyKind.META `kafka-parked`: the parked Kafka records, in the order they were parked."""

    records: list[ParkedRecordRecord] = []
