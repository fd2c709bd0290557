"""A partition state machine over a real LevelDB store, driven the way the partition actor drives it."""

from __future__ import annotations

from pathlib import Path

import msgspec
from google.protobuf.message import Message

from restate import ids
from restate.partition import convert
from restate.partition.actions import Action, ForwardEntry, Reply, ShipOutbox, StartAttempt
from restate.partition.command_log import decode_entry, encode_entry
from restate.partition.commands import Command, EndCmd, LogEntry, RequestCmd, SdkMessageCmd, SuspendedCmd
from restate.partition.state_machine import StateMachine
from restate.protocol import MESSAGE_TYPES, FrameDecoder, decode_message, pb, suspension_future
from restate.schema import Deployment, HandlerSchema, Schema, ServiceSchema
from restate.storage import records as r
from restate.storage.partition_store import PartitionStore
from restate.storage.records import InvocationStatus
from restate.storage.tables import Tables
from restate.storage.view import PartitionView
from restate.wire import (
    CallerSink,
    CommandResult,
    IngressSink,
    InvocationOp,
    InvocationRequest,
    ManageInvocation,
    OutboxMessage,
    Outcome,
    Target,
)

NOW = 1_700_000_000_000
DEPLOYMENT_ID = "dp_12PgsFJ82wRXepxIaMzIdLr"
NUM_PARTITIONS = 4
ADMIN = "admin-0"

GREETER = Target("Greeter", "greet", None, "service", False)


def counter_add(key: str) -> Target:
    return Target("Counter", "add", key, "virtual_object", True)


def counter_get(key: str) -> Target:
    return Target("Counter", "get", key, "virtual_object", False)


def signup_run(key: str) -> Target:
    """The `run` handler of the Signup workflow (exclusive: at most once per key)."""
    return Target("Signup", "run", key, "workflow", True)


def signup_approve(key: str) -> Target:
    """A shared handler of the Signup workflow."""
    return Target("Signup", "approve", key, "workflow", False)


def make_schema(min_version: int = 5, max_version: int = 7) -> Schema:
    deployment = Deployment(
        id=DEPLOYMENT_ID,
        uri="http://localhost:9080",
        protocol_type="BidiStream",
        http_version="HTTP/2.0",
        created_at_ms=NOW,
        min_protocol_version=min_version,
        max_protocol_version=max_version,
        services={"Greeter": 1, "Counter": 1, "Signup": 1},
    )
    greeter = ServiceSchema(
        name="Greeter",
        ty="Service",
        handlers={"greet": HandlerSchema(name="greet")},
        deployment_id=DEPLOYMENT_ID,
    )
    counter = ServiceSchema(
        name="Counter",
        ty="VirtualObject",
        handlers={"add": HandlerSchema(name="add", ty="Exclusive"), "get": HandlerSchema(name="get", ty="Shared")},
        deployment_id=DEPLOYMENT_ID,
    )
    signup = ServiceSchema(
        name="Signup",
        ty="Workflow",
        handlers={
            "run": HandlerSchema(name="run", ty="Workflow"),
            "approve": HandlerSchema(name="approve", ty="Shared"),
        },
        deployment_id=DEPLOYMENT_ID,
    )
    return Schema(
        version=1,
        deployments={DEPLOYMENT_ID: deployment},
        services={"Greeter": greeter, "Counter": counter, "Signup": signup},
    )


_counter = 0


def new_id(partition_key: int | None = None) -> bytes:
    """A fresh invocation id; by default with a partition key owned by partition 0 of 4."""
    global _counter
    _counter += 1
    pk = (_counter * 7919) if partition_key is None else partition_key
    return ids.InvocationId(pk, _counter.to_bytes(16, "big")).to_bytes()


def id_for(target: Target) -> bytes:
    pk = ids.partition_key_for(target.key) if target.key is not None else None
    return new_id(pk)


def request(
    target: Target = GREETER,
    input: bytes = b"",
    *,
    invocation_id: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
    execute_at_ms: int | None = None,
    idempotency_key: str | None = None,
    caller: CallerSink | None = None,
) -> InvocationRequest:
    return InvocationRequest(
        invocation_id=invocation_id if invocation_id is not None else id_for(target),
        target=target,
        input=input,
        headers=headers or [],
        idempotency_key=idempotency_key,
        execute_at_ms=execute_at_ms,
        caller=caller,
    )


def run_request(key: str, input: bytes = b"", **kw: object) -> InvocationRequest:
    """A request for Signup/run with the deterministic workflow run id, as the ingress builds it."""
    return request(signup_run(key), input, invocation_id=ids.workflow_run_id("Signup", key).to_bytes(), **kw)  # type: ignore[arg-type]


def sink(request_id: int = 1, node: str = "ingress-0") -> IngressSink:
    return IngressSink(node, request_id)


def parse_frame(frame: bytes) -> tuple[int, int, Message]:
    decoder = FrameDecoder()
    frames = decoder.push(frame)
    assert len(frames) == 1 and decoder.at_boundary(), "expected exactly one frame"
    (f,) = frames
    return f.type, f.flags, decode_message(f)


def future(
    kind: int,
    completions: tuple[int, ...] = (),
    signals: tuple[int, ...] = (),
    names: tuple[str, ...] = (),
    nested: tuple[pb.Future, ...] = (),
) -> pb.Future:
    return pb.Future(
        waiting_completions=list(completions),
        waiting_signals=list(signals),
        waiting_named_signals=list(names),
        nested_futures=list(nested),
        combinator_type=kind,  # type: ignore[arg-type]
    )


class Partition:
    """One partition: StateMachine.apply + commit per command, as the partition actor does."""

    def __init__(
        self,
        path: Path,
        *,
        partition_id: int = 0,
        num_partitions: int = NUM_PARTITIONS,
        protocol_v7: bool = False,
        schema: Schema | None = None,
    ) -> None:
        self.store = PartitionStore(path)
        self.machine = StateMachine(partition_id, num_partitions, protocol_v7)
        self.schema = schema if schema is not None else make_schema()
        self.now = NOW
        self.entries: list[LogEntry] = []  # every entry applied, in order (replayed by the determinism test)

    def close(self) -> None:
        self.store.close()

    def apply(self, command: Command, now_ms: int | None = None) -> list[Action]:
        """Applies the command as a log entry of its own, read back from its encoded bytes: every
        partition test also checks that the command log format carries everything apply needs."""
        entry = self.machine.entry([command], self.now if now_ms is None else now_ms, self.schema.version)
        decoded = decode_entry(encode_entry(entry))
        assert decoded == entry, f"the command log format lost something: {entry} != {decoded}"
        self.entries.append(entry)
        txn = self.store.transaction()
        actions = self.machine.apply_entry(txn, decoded, self.schema)
        txn.commit()
        return actions

    def sdk(self, invocation_id: bytes, msg: Message, flags: int = 0) -> list[Action]:
        """Feeds a message the deployment sent, built with the generated protobuf classes."""
        msg_type = MESSAGE_TYPES[type(msg)]
        return self.apply(
            SdkMessageCmd(invocation_id, self.attempt(invocation_id), msg_type, flags, msg.SerializeToString())
        )

    def finish(self, invocation_id: bytes, value: bytes = b"") -> list[Action]:
        """The running attempt writes Output(value) and ends; returns the actions of the End."""
        self.sdk(invocation_id, pb.OutputCommandMessage(value=pb.Value(content=value)))
        return self.apply(EndCmd(invocation_id, self.attempt(invocation_id)))

    def manage(self, invocation_id: bytes, op: InvocationOp, request_id: int = 1, node: str = ADMIN) -> list[Action]:
        return self.apply(RequestCmd(node, ManageInvocation(request_id, invocation_id, op)))

    def suspend(self, invocation_id: bytes, awaiting: pb.Future) -> list[Action]:
        return self.apply(SuspendedCmd(invocation_id, self.attempt(invocation_id), awaiting.SerializeToString()))

    def suspend_v6(self, invocation_id: bytes, completions: list[int], signals: list[int]) -> list[Action]:
        msg = pb.SuspensionMessage(waiting_completions=completions, waiting_signals=signals)
        return self.suspend(invocation_id, suspension_future(msg, 6))

    # --- reading what was stored (a fresh transaction over the committed store)
    @property
    def tables(self) -> Tables:
        return Tables(self.store.transaction())

    @property
    def view(self) -> PartitionView:
        return PartitionView(self.store)

    def attempt(self, invocation_id: bytes) -> int:
        """The current attempt number of an invocation (0 when it has none), as the invoker would send it."""
        found = self.tables.status(invocation_id)
        return 0 if found is None else found.attempt

    def record(self, invocation_id: bytes) -> InvocationStatus:
        """The stored status, typed."""
        found = self.tables.status(invocation_id)
        assert found is not None, "no status stored"
        return found

    def status(self, invocation_id: bytes) -> StatusFields:
        """The stored status as the flat fields the older tests check (derived from the typed record)."""
        return StatusFields.of(self.record(invocation_id))

    def journal(self, invocation_id: bytes) -> list[tuple[int, Message]]:
        """The stored journal entries in order, as (type id, decoded message)."""
        out = []
        for expected, (index, frame) in enumerate(self.view.journal(invocation_id)):
            assert index == expected, "journal indexes have a gap"
            msg_type, flags, msg = parse_frame(frame)
            assert flags == 0, "journal frames are stored with flags cleared"
            out.append((msg_type, msg))
        return out

    def outbox(self) -> list[tuple[int, int, OutboxMessage]]:
        """(destination, seq, message) of every stored outbox message, as shipped."""
        return [(d, seq, convert.wire_outbox(item)) for d, seq, item in self.view.outbox()]

    def journal_types(self, invocation_id: bytes) -> list[int]:
        return [t for t, _ in self.journal(invocation_id)]

    def timers(self) -> list[tuple[int, bytes, int]]:
        return list(self.view.timers_due(2**63 - 2))

    def state(self, service: str, key: str) -> dict[bytes, bytes]:
        return dict(self.view.state(service, key))


class StatusFields(msgspec.Struct, frozen=True, kw_only=True):
    """What a test reads of a status, flat and in IPC types: each state's fields, or their empty value
    when the state has none (a completed invocation has no waiters, a running one no outcome)."""

    status: str
    target: Target
    created_at_ms: int
    modified_at_ms: int
    attempt: int
    deployment_id: str | None
    protocol_version: int | None
    journal_len: int
    command_count: int
    last_entry_at_ms: int
    completions: list[int]
    failed_completions: list[int]
    signals: list[int]
    signal_names: list[str]
    pending_output: Outcome | None
    ingress_sinks: list[IngressSink]
    callers: list[CallerSink]
    execute_at_ms: int | None
    inbox_seq: int | None
    poisoned: bool
    retry_count: int
    last_failure: str | None
    outcome: Outcome | None
    expires_at_ms: int | None
    awaiting: bytes | None

    @classmethod
    def of(cls, record: InvocationStatus) -> StatusFields:
        state, journal = record.state, record.journal
        waiting = record.waiting
        attempts = getattr(state, "attempts", None)
        completed = state if isinstance(state, r.Completed) else None
        return cls(
            status=record.status,
            target=convert.wire_target(record.target),
            created_at_ms=record.created_at_ms,
            modified_at_ms=record.modified_at_ms,
            attempt=record.attempt,
            deployment_id=record.deployment_id,
            protocol_version=record.protocol_version,
            journal_len=journal.length,
            command_count=journal.commands,
            last_entry_at_ms=journal.last_appended_at_ms,
            completions=journal.completions,
            failed_completions=journal.failed_completions,
            signals=journal.signals,
            signal_names=journal.signal_names,
            pending_output=None if journal.output is None else convert.wire_outcome(journal.output),
            ingress_sinks=[] if waiting is None else [convert.wire_ingress(s) for s in waiting.ingress],
            callers=[] if waiting is None else [convert.wire_caller(c) for c in waiting.callers],
            execute_at_ms=state.execute_at_ms if isinstance(state, r.Scheduled) else None,
            inbox_seq=state.inbox_seq if isinstance(state, r.Inboxed) else None,
            poisoned=bool(getattr(state, "poisoned", False)),
            retry_count=0 if attempts is None else attempts.retry_count,
            last_failure=None if attempts is None else attempts.last_failure,
            outcome=None if completed is None else convert.wire_outcome(completed.outcome),
            expires_at_ms=None if completed is None else completed.expires_at_ms,
            awaiting=state.awaiting if isinstance(state, r.Suspended) else None,
        )


def assert_actions(actions: list[Action], *expected: Action) -> None:
    """The same actions, in any order (they are all executed after the same commit)."""
    assert sorted(map(repr, actions)) == sorted(map(repr, expected)), f"{actions} != {list(expected)}"


def only_forward(actions: list[Action]) -> ForwardEntry:
    """The one action, which must be a ForwardEntry."""
    assert len(actions) == 1 and isinstance(actions[0], ForwardEntry), actions
    return actions[0]


def the_forward(actions: list[Action]) -> ForwardEntry:
    """The single ForwardEntry among the actions."""
    found = [a for a in actions if isinstance(a, ForwardEntry)]
    assert len(found) == 1, actions
    return found[0]


def of_type(actions: list[Action], cls: type) -> list:  # type: ignore[type-arg]
    """The actions of one type, in order."""
    return [a for a in actions if isinstance(a, cls)]


def starts(actions: list[Action]) -> list[bytes]:
    """The invocations a StartAttempt is asked for."""
    return [a.invocation_id for a in actions if isinstance(a, StartAttempt)]


def shipped(actions: list[Action]) -> list[ShipOutbox]:
    return [a for a in actions if isinstance(a, ShipOutbox)]


def command_result(actions: list[Action]) -> tuple[int, str | None]:
    """(status, message) of the one CommandResult reply among the actions."""
    found = [a.message for a in actions if isinstance(a, Reply) and isinstance(a.message, CommandResult)]
    assert len(found) == 1, actions
    return found[0].status, found[0].message
