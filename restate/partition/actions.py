"""What the state machine asks for once a batch is durable (actions); its inputs are in commands.py and
what it stores in restate.storage.records."""

from __future__ import annotations

import msgspec

from restate.wire import Failure, IngressSink, Message, OutboxMessage, Outcome, Target, TraceContext

# --- actions: what to do once the batch is durable ------------------------------------------------------


class ReplyAccepted(msgspec.Struct, frozen=True):
    sink: IngressSink
    invocation_id: bytes
    previously_accepted: bool
    execute_at_ms: int | None = None


class ReplyDone(msgspec.Struct, frozen=True):
    sink: IngressSink
    invocation_id: bytes
    outcome: Outcome
    expires_at_ms: int | None = None
    replayed: bool = False


class ShipOutbox(msgspec.Struct, frozen=True):
    destination: int
    seq: int
    message: OutboxMessage


class AckOutbox(msgspec.Struct, frozen=True):
    source: int
    seq: int


class StartAttempt(msgspec.Struct, frozen=True):
    invocation_id: bytes
    delay_ms: int = 0


class ForwardEntry(msgspec.Struct, frozen=True):
    """Push a stored journal entry to the running attempt (`frame` may be the V7 run ack standing in for
    the entry at `index`); a CommandAck, which is no journal entry, has `index` = -1."""

    invocation_id: bytes
    index: int
    frame: bytes


class Reply(msgspec.Struct, frozen=True):
    """Answer a request from ingress/admin node `node`."""

    node: str
    message: Message


class KillAttempt(msgspec.Struct, frozen=True):
    """Drop the running attempt without reporting anything (kill, pause)."""

    invocation_id: bytes


class AbortAttempt(msgspec.Struct, frozen=True):
    """The partition refused a command of this attempt: it must fail (and be retried)."""

    invocation_id: bytes
    attempt: int
    reason: str


class ArmTimer(msgspec.Struct, frozen=True):
    wake_up_ms: int
    invocation_id: bytes
    completion_id: int


class TraceStarted(msgspec.Struct, frozen=True):
    """A traced invocation's first attempt starts: export its invocation-start span (creation -> now)."""

    invocation_id: bytes
    target: Target
    created_at_ms: int
    trace: TraceContext


class TraceEnded(msgspec.Struct, frozen=True):
    """A traced invocation completed: export its invocation-end span."""

    invocation_id: bytes
    target: Target
    trace: TraceContext
    failure: Failure | None = None


Action = (
    ReplyAccepted
    | ReplyDone
    | Reply
    | ShipOutbox
    | AckOutbox
    | StartAttempt
    | ForwardEntry
    | AbortAttempt
    | KillAttempt
    | ArmTimer
    | TraceStarted
    | TraceEnded
)
