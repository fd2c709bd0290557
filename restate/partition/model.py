"""What the partition stores and what it asks for once a batch is durable (actions); commands are in commands.py."""

from __future__ import annotations

from typing import Literal

import msgspec

from restate.wire import (
    CallerSink,
    IngressSink,
    Message,
    OutboxMessage,
    Outcome,
    Target,
)

Status = Literal["scheduled", "inboxed", "invoked", "suspended", "paused", "completed"]
COMPLETED: Status = "completed"


class InvocationStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One invocation, stored under KeyKind.STATUS (format version `v`)."""

    v: int = 1
    status: Status
    target: Target
    created_at_ms: int
    modified_at_ms: int
    journal_len: int = 0
    command_count: int = 0
    last_entry_at_ms: int = 0
    deployment_id: str | None = None
    protocol_version: int | None = None
    origin: IngressSink | None = None  # the ingress request that created it (re-sends are recognised)
    ingress_sinks: list[IngressSink] = []
    callers: list[CallerSink] = []
    caller_id: bytes | None = None
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    completions: list[int] = []  # completion ids that have a notification in the journal
    failed_completions: list[int] = []  # those of them whose result is a failure
    signals: list[int] = []
    signal_names: list[str] = []
    awaiting: bytes | None = None  # the serialized protocol Future a suspended invocation waits on
    poisoned: bool = False  # the running attempt broke a precondition: ignore its messages until it ends
    pending_output: Outcome | None = None  # the last OutputCommand seen, used at End
    outcome: Outcome | None = None
    expires_at_ms: int | None = None  # completed: when the retained result is purged
    retry_count: int = 0
    attempt: int = 0  # number of the current (or last) attempt; effects of older attempts are ignored
    last_failure: str | None = None
    inbox_seq: int | None = None  # set while inboxed


class PromiseRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A workflow's durable promise: its outcome once completed, else who waits for it."""

    v: int = 1
    outcome: Outcome | None = None
    listeners: list[tuple[bytes, int]] = []  # (invocation id, completion id) of pending GetPromise


class StateMutation(msgspec.Struct, kw_only=True):
    """A whole-state replacement queued in an object's inbox behind the invocation holding its lock."""

    new_state: list[tuple[bytes, bytes]]
    version: str | None = None


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
)
