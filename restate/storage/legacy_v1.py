"""Store format 1 (the release before versioned records), frozen: how to read it and turn it into format 2
(the partition's records; the registry goes on to format 3 through legacy_v2).

Format 1 persisted the IPC structs of that release (positional arrays) inside map-encoded statuses and
promises, raw big-endian integers for sequences and dedup rows, tagged bytes in the inbox and raw ids
as lock values. These copies of its structs must never change: they are how its bytes are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from restate.storage import legacy_v2
from restate.storage import records as r

# --- the IPC structs format 1 embedded (restate/wire.py of that release), positional ------------------------


class Target(msgspec.Struct, frozen=True, array_like=True):
    service: str
    handler: str
    key: str | None = None
    service_ty: Literal["service", "virtual_object", "workflow"] = "service"
    exclusive: bool = False


class Failure(msgspec.Struct, frozen=True, array_like=True):
    code: int
    message: str
    metadata: list[tuple[str, str]] = []
    stacktrace: str | None = None


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    value: bytes | None = None
    failure: Failure | None = None


class IngressSink(msgspec.Struct, frozen=True, array_like=True):
    node: str
    request_id: int


class CallerSink(msgspec.Struct, frozen=True, array_like=True):
    invocation_id: bytes
    completion_id: int
    kind: int = r.CALL_COMPLETION


class InvocationRequest(msgspec.Struct, tag="request", frozen=True, array_like=True):
    invocation_id: bytes
    target: Target
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: CallerSink | None = None
    caller_id: bytes | None = None


class InvocationResponse(msgspec.Struct, tag="response", frozen=True, array_like=True):
    caller: CallerSink
    outcome: Outcome


class Signal(msgspec.Struct, tag="signal", frozen=True, array_like=True):
    invocation_id: bytes
    idx: int | None = None
    name: str | None = None
    outcome: Outcome | None = None


class AttachOutput(msgspec.Struct, tag="attach_output", frozen=True, array_like=True):
    invocation_id: bytes
    caller: CallerSink


OutboxMessage = InvocationRequest | InvocationResponse | Signal | AttachOutput

# --- the records of format 1 ---------------------------------------------------------------------------------


class InvocationStatus(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    status: Literal["scheduled", "inboxed", "invoked", "suspended", "paused", "completed"]
    target: Target
    created_at_ms: int
    modified_at_ms: int
    journal_len: int = 0
    command_count: int = 0
    last_entry_at_ms: int = 0
    deployment_id: str | None = None
    protocol_version: int | None = None
    origin: IngressSink | None = None
    ingress_sinks: list[IngressSink] = []
    callers: list[CallerSink] = []
    caller_id: bytes | None = None
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    completions: list[int] = []
    failed_completions: list[int] = []
    signals: list[int] = []
    signal_names: list[str] = []
    awaiting: bytes | None = None
    poisoned: bool = False
    pending_output: Outcome | None = None
    outcome: Outcome | None = None
    expires_at_ms: int | None = None
    retry_count: int = 0
    attempt: int = 0
    last_failure: str | None = None
    inbox_seq: int | None = None


class PromiseRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    outcome: Outcome | None = None
    listeners: list[tuple[bytes, int]] = []


class StateMutation(msgspec.Struct, kw_only=True):
    new_state: list[tuple[bytes, bytes]]
    version: str | None = None


INBOX_INVOCATION_TAG = b"I"
INBOX_MUTATION_TAG = b"M"
_status_decoder = msgspec.msgpack.Decoder(InvocationStatus)
_promise_decoder = msgspec.msgpack.Decoder(PromiseRecord)
_mutation_decoder = msgspec.msgpack.Decoder(StateMutation)
_outbox_decoder: msgspec.msgpack.Decoder[OutboxMessage] = msgspec.msgpack.Decoder(OutboxMessage)  # type: ignore[arg-type]


# --- format 1 -> format 2 -------------------------------------------------------------------------------------


def _target(t: Target) -> r.InvocationTarget:
    return r.InvocationTarget(
        service=t.service, handler=t.handler, key=t.key, service_ty=t.service_ty, exclusive=t.exclusive
    )


def _outcome(o: Outcome | None) -> r.OutcomeRecord | None:
    if o is None:
        return None
    failure = None
    if o.failure is not None:
        f = o.failure
        failure = r.FailureRecord(code=f.code, message=f.message, metadata=list(f.metadata), stacktrace=f.stacktrace)
    return r.OutcomeRecord(value=o.value, failure=failure)


def _ingress(s: IngressSink) -> r.IngressWaiter:
    return r.IngressWaiter(node=s.node, request_id=s.request_id)


def _caller(c: CallerSink) -> r.CallerWaiter:
    return r.CallerWaiter(invocation_id=c.invocation_id, completion_id=c.completion_id, kind=c.kind)


def _state(old: InvocationStatus) -> r.InvocationState:
    ingress, callers = [_ingress(s) for s in old.ingress_sinks], [_caller(c) for c in old.callers]
    attempts = r.Attempts(number=old.attempt, retry_count=old.retry_count, last_failure=old.last_failure)
    match old.status:
        case "scheduled":
            execute_at = old.execute_at_ms or old.created_at_ms
            return r.Scheduled(execute_at_ms=execute_at, ingress=ingress, callers=callers)
        case "inboxed":
            return r.Inboxed(inbox_seq=old.inbox_seq or 0, ingress=ingress, callers=callers)
        case "invoked" if old.retry_count > 0:
            # format 1 kept no retry time: the retry was due at the failure (its last modification) at the latest
            retry_at = old.modified_at_ms
            return r.BackingOff(
                attempts=attempts, retry_at_ms=retry_at, poisoned=old.poisoned, ingress=ingress, callers=callers
            )
        case "invoked":
            return r.Invoked(attempts=attempts, poisoned=old.poisoned, ingress=ingress, callers=callers)
        case "suspended":
            return r.Suspended(attempts=attempts, awaiting=old.awaiting or b"", ingress=ingress, callers=callers)
        case "paused":
            return r.Paused(attempts=attempts, ingress=ingress, callers=callers)
    outcome = _outcome(old.outcome) or r.OutcomeRecord(value=b"")
    return r.Completed(outcome=outcome, expires_at_ms=old.expires_at_ms or old.modified_at_ms)


def status(raw: bytes) -> r.InvocationStatus:
    old = _status_decoder.decode(raw)
    journal = r.JournalIndex(
        length=old.journal_len,
        commands=old.command_count,
        last_appended_at_ms=old.last_entry_at_ms,
        completions=list(old.completions),
        failed_completions=list(old.failed_completions),
        signals=list(old.signals),
        signal_names=list(old.signal_names),
        output=_outcome(old.pending_output),
    )
    return r.InvocationStatus(
        target=_target(old.target),
        created_at_ms=old.created_at_ms,
        modified_at_ms=old.modified_at_ms,
        state=_state(old),
        journal=journal,
        deployment_id=old.deployment_id,
        protocol_version=old.protocol_version,
        origin=None if old.origin is None else _ingress(old.origin),
        caller_id=old.caller_id,
        idempotency_key=old.idempotency_key,
    )


def promise(raw: bytes) -> r.PromiseRecord:
    old = _promise_decoder.decode(raw)
    listeners = [r.PromiseListener(invocation_id=i, completion_id=c) for i, c in old.listeners]
    return r.PromiseRecord(outcome=_outcome(old.outcome), listeners=listeners)


def inbox(raw: bytes) -> r.InboxRecord:
    tag, value = raw[:1], raw[1:]
    if tag == INBOX_MUTATION_TAG:
        mutation = _mutation_decoder.decode(value)
        item: r.QueuedInvocation | r.QueuedStateReplacement = r.QueuedStateReplacement(
            new_state=list(mutation.new_state), version=mutation.version
        )
    elif tag == INBOX_INVOCATION_TAG:
        item = r.QueuedInvocation(invocation_id=bytes(value))
    else:
        raise ValueError(f"not an inbox entry of format 1 (tag {tag!r})")
    return r.InboxRecord(item=item)


def outbox(raw: bytes) -> r.OutboxRecord:
    message = _outbox_decoder.decode(raw)
    item: r.OutboxItem
    match message:
        case InvocationRequest():
            item = r.OutboxInvocation(
                invocation_id=message.invocation_id,
                target=_target(message.target),
                input=message.input,
                headers=list(message.headers),
                idempotency_key=message.idempotency_key,
                execute_at_ms=message.execute_at_ms,
                caller=None if message.caller is None else _caller(message.caller),
                caller_id=message.caller_id,
            )
        case InvocationResponse():
            item = r.OutboxResponse(
                caller=_caller(message.caller), outcome=_outcome(message.outcome) or r.OutcomeRecord()
            )
        case Signal():
            item = r.OutboxSignal(
                invocation_id=message.invocation_id,
                idx=message.idx,
                name=message.name,
                outcome=_outcome(message.outcome),
            )
        case AttachOutput():
            item = r.OutboxAttach(invocation_id=message.invocation_id, caller=_caller(message.caller))
    return r.OutboxRecord(message=item)


def u64(raw: bytes) -> int:
    """Sequences, dedup rows and queue counts of format 1: a big-endian u64."""
    return int.from_bytes(raw[:8], "big")


def live(raw: bytes) -> r.LiveRecord:
    """A live-index row of format 1: the status name (the upgrade rebuilds the index from the statuses)."""
    return r.LiveRecord(status=raw.decode())  # type: ignore[arg-type]


def schema(raw: bytes) -> legacy_v2.Schema:
    """The metadata store's schema of format 1: the registry model encoded alone (a map by field name), the
    same struct format 2 wrapped in its SchemaRecord (read with format 2's frozen copy)."""
    return msgspec.msgpack.decode(raw, type=legacy_v2.Schema)


#: Each record kind's format-1 reader (the kinds format 1 had).
READERS: dict[str, Callable[[bytes], msgspec.Struct]] = {
    "status": status,
    "live": live,
    "inbox": inbox,
    "lock": lambda raw: r.LockRecord(invocation_id=bytes(raw)),
    "timer": lambda raw: r.TimerRecord(),
    "promise": promise,
    "outbox": outbox,
    "dedup": lambda raw: r.DedupRecord(seq=u64(raw)),
    "sequence": lambda raw: r.SequenceRecord(last=u64(raw)),
    "schema": lambda raw: legacy_v2.schema_record(schema(raw)),
    "settings": lambda raw: r.SettingsRecord(num_partitions=int(raw)),
}
