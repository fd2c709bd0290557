"""Every change of an invocation's status: its typed state (restate.storage.records) and the fields around it.

Nothing else in the partition assigns a status field. Each function changes the status in memory and
marks it in the apply's context, which writes it once when the log entry (the batch) is applied. What
to do about a change (answer waiters, arm timers, start the next in line) is restate.partition.lifecycle's.

    Scheduled ──> Inboxed ──> Invoked <──> Suspended        any of them ──> Completed
        └──────────────────────>  │  <──> Paused
                                  └──> BackingOff (an attempt failed; the next one runs in it)
"""

from __future__ import annotations

from typing import TypeVar

from restate.partition import convert
from restate.partition.actions import StartAttempt, TraceEnded, TraceStarted
from restate.partition.apply_context import ApplyContext
from restate.protocol.messages import negotiate
from restate.storage import records as r
from restate.wire import IngressSink, InvocationRequest


class InvalidTransition(Exception):
    """A change the invocation's current state does not allow (a bug in the caller)."""


def create(ctx: ApplyContext, inv_id: bytes, request: InvocationRequest, sink: IngressSink | None, send: bool,
           input_frame: bytes) -> r.InvocationStatus:  # fmt: skip
    """A new invocation, scheduled for its start time (now when not delayed), its input in the journal.

    `sink` is the ingress request that created it: a call (not `send`) waits for the outcome."""
    waiting = r.Scheduled(execute_at_ms=request.execute_at_ms or ctx.now_ms)
    if request.caller is not None:
        waiting.callers = [convert.caller_waiter(request.caller)]
    origin = None
    if sink is not None:
        origin = convert.ingress_waiter(sink)
        if not send:
            waiting.ingress = [origin]
    status = r.InvocationStatus(
        target=convert.target(request.target),
        created_at_ms=ctx.now_ms,
        modified_at_ms=ctx.now_ms,
        state=waiting,
        journal=r.JournalIndex(),
        origin=origin,
        caller_id=request.caller_id,
        idempotency_key=request.idempotency_key,
        trace=None if request.trace is None else convert.trace(request.trace),
    )
    append_entry(ctx, inv_id, status, input_frame)
    return status


def enqueue(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, inbox_seq: int) -> None:
    """Scheduled -> Inboxed: it waits in its key's inbox at `inbox_seq`."""
    state = _expect(status, r.Scheduled)
    status.state = r.Inboxed(inbox_seq=inbox_seq, ingress=state.ingress, callers=state.callers)
    ctx.changed(inv_id, status)


def start_attempt(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, delay_ms: int = 0) -> None:
    """Runs a new attempt (in `delay_ms`): Invoked, or BackingOff once an attempt failed. The first one
    pins the deployment and the protocol version."""
    state = status.state
    if isinstance(state, r.Completed):
        raise InvalidTransition("a completed invocation runs no attempt")
    if isinstance(state, r.NOT_STARTED):
        attempts = r.Attempts()
        if status.trace is not None:
            trace = convert.wire_trace(status.trace)
            assert trace is not None
            ctx.actions.append(TraceStarted(inv_id, convert.wire_target(status.target), status.created_at_ms, trace))
    else:
        attempts = state.attempts
    attempts.number += 1
    if attempts.retry_count > 0:
        status.state = r.BackingOff(
            attempts=attempts, retry_at_ms=ctx.now_ms + delay_ms, ingress=state.ingress, callers=state.callers
        )
    else:
        status.state = r.Invoked(attempts=attempts, ingress=state.ingress, callers=state.callers)
    status.modified_at_ms = ctx.now_ms
    if status.deployment_id is None:
        _pin_deployment(ctx, status)
    ctx.changed(inv_id, status)
    ctx.actions.append(StartAttempt(inv_id, delay_ms))


def _pin_deployment(ctx: ApplyContext, status: r.InvocationStatus) -> None:
    service = ctx.schema.services.get(status.target.service)
    if service is None:
        return  # the invoker fails the attempt ("no deployment") and it is retried
    deployment = ctx.schema.deployments.get(service.deployment_id)
    if deployment is None:
        return
    cap = 7 if ctx.protocol_v7 else 6
    version = negotiate(deployment.min_protocol_version, deployment.max_protocol_version, cap)
    if version is not None:
        status.deployment_id = deployment.id
        status.protocol_version = version


def suspend(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, awaiting: bytes) -> None:
    """Invoked/BackingOff -> Suspended until `awaiting` (a serialized protocol Future) can progress."""
    state = _running(status)
    status.state = r.Suspended(attempts=state.attempts, awaiting=awaiting, ingress=state.ingress, callers=state.callers)
    status.modified_at_ms = ctx.now_ms
    ctx.changed(inv_id, status)


def pause(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, *, touch: bool = True) -> None:
    """Invoked/BackingOff/Suspended -> Paused (`touch`: an operator's pause, which counts as a modification)."""
    state = status.state
    if not isinstance(state, r.Invoked | r.BackingOff | r.Suspended | r.Paused):
        raise InvalidTransition(f"a {status.status} invocation cannot be paused")
    status.state = r.Paused(attempts=state.attempts, ingress=state.ingress, callers=state.callers)
    if touch:
        status.modified_at_ms = ctx.now_ms
    ctx.changed(inv_id, status)


def attempt_failed(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, failure: str) -> None:
    """Records the failure of the running attempt ("[code] message"); what follows is the caller's choice."""
    attempts = _running(status).attempts
    attempts.retry_count += 1
    attempts.last_failure = failure
    ctx.changed(inv_id, status)


def poison(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus) -> None:
    """The running attempt broke a precondition: its further messages are ignored until it ends."""
    _running(status).poisoned = True
    ctx.changed(inv_id, status)


def complete(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, outcome: r.OutcomeRecord,
             expires_at_ms: int) -> r.WaitingState:  # fmt: skip
    """-> Completed with `outcome`, kept until `expires_at_ms`; returns the state it left (its waiters)."""
    state = status.waiting
    if state is None:
        raise InvalidTransition("the invocation is already completed")
    status.state = r.Completed(outcome=outcome, expires_at_ms=expires_at_ms)
    status.journal.output = None
    status.modified_at_ms = ctx.now_ms
    ctx.changed(inv_id, status)
    if status.trace is not None:
        trace = convert.wire_trace(status.trace)
        assert trace is not None
        failure = None if outcome.failure is None else convert.wire_failure(outcome.failure)
        ctx.actions.append(TraceEnded(inv_id, convert.wire_target(status.target), trace, failure))
    return state


def forget(ctx: ApplyContext, inv_id: bytes) -> None:
    """The invocation is gone (purged): its status is deleted."""
    ctx.changed(inv_id, None)


# --- who waits for the outcome


def add_ingress_waiter(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, sink: r.IngressWaiter) -> None:
    _waiting(status).ingress.append(sink)
    ctx.changed(inv_id, status)


def add_caller_waiter(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, caller: r.CallerWaiter) -> None:
    _waiting(status).callers.append(caller)
    ctx.changed(inv_id, status)


# --- the journal index


def append_entry(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, frame: bytes) -> int:
    """Stores a journal entry after the last one; returns its index."""
    journal = status.journal
    index = journal.length
    ctx.tables.put_entry(inv_id, index, frame)
    journal.length = index + 1
    journal.last_appended_at_ms = ctx.now_ms
    ctx.changed(inv_id, status)
    return index


def append_command(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, frame: bytes) -> int:
    """Stores a command the deployment sent; returns its command index (what a CommandAck names)."""
    journal = status.journal
    command_index = journal.commands
    ctx.tables.put_entry(inv_id, journal.length, frame)
    journal.commands = command_index + 1
    journal.length += 1
    journal.last_appended_at_ms = ctx.now_ms
    ctx.changed(inv_id, status)
    return command_index


def note_notification(
    ctx: ApplyContext,
    inv_id: bytes,
    status: r.InvocationStatus,
    *,
    completion_id: int | None,
    signal_idx: int | None,
    signal_name: str | None,
    failed: bool,
    repeatable_signal: int | None,
) -> bool:
    """Records that a notification is about to be appended; False when its id already has one (a
    signal index equal to `repeatable_signal` may repeat)."""
    journal = status.journal
    if completion_id is not None:
        if completion_id in journal.completions:
            return False
        journal.completions.append(completion_id)
        if failed:
            journal.failed_completions.append(completion_id)
    elif signal_idx is not None:
        if signal_idx in journal.signals and signal_idx != repeatable_signal:
            return False
        journal.signals.append(signal_idx)
    elif signal_name is not None:
        journal.signal_names.append(signal_name)
    ctx.changed(inv_id, status)
    return True


def set_output(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, outcome: r.OutcomeRecord) -> None:
    """The attempt wrote its OutputCommand: the outcome once it ends."""
    status.journal.output = outcome
    ctx.changed(inv_id, status)


def drop_journal(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus) -> None:
    """Deletes a completed invocation's journal; its sizes drop to 0 with it, as on the real server
    (sys_invocation.journal_size and journal_commands_size)."""
    ctx.tables.delete_journal(inv_id)
    status.journal.length = 0
    status.journal.commands = 0
    ctx.changed(inv_id, status)


# --- helpers


S = TypeVar("S")


def _expect(status: r.InvocationStatus, kind: type[S]) -> S:
    state = status.state
    if not isinstance(state, kind):
        raise InvalidTransition(f"expected a {kind.__name__} invocation, it is {status.status}")
    return state


def _running(status: r.InvocationStatus) -> r.Invoked | r.BackingOff:
    state = status.state
    if not isinstance(state, r.RUNNING):
        raise InvalidTransition(f"no attempt runs: the invocation is {status.status}")
    return state


def _waiting(status: r.InvocationStatus) -> r.WaitingState:
    state = status.waiting
    if state is None:
        raise InvalidTransition("the invocation is completed: nobody waits for it any more")
    return state
