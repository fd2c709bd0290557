"""Invocation lifecycle: create, queue behind a key's lock, run, suspend, notify, retry, complete, purge.

The status changes themselves are restate.partition.transitions'; this module decides which one follows
an event and what goes with it (timers, answers to waiters, the next invocation in a key's inbox).
"""

from __future__ import annotations

from restate.partition import awaiting, convert, transitions
from restate.partition.actions import ArmTimer, ForwardEntry, ReplyAccepted, ReplyDone
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import AttemptFailedCmd
from restate.partition.state_version import state_version
from restate.protocol import MessageType, encode_message, notification
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.schema import DEFAULT_RETENTION_MS
from restate.storage import records as r
from restate.wire import (
    GET_OUTPUT_COMPLETION,
    AttachOutput,
    CallerSink,
    Failure,
    IngressSink,
    InvocationRequest,
    InvocationResponse,
    OutboxMessage,
    Outcome,
    Signal,
)

PURGE_TIMER = 0xFFFFFFFF  # completion id of the timer that drops a completed invocation after retention
START_TIMER = 0  # completion id of the timer that starts a scheduled invocation
CANCEL_SIGNAL = 1
EMPTY_OUTPUT = r.OutcomeRecord(value=b"")  # the outcome of an attempt that ends without an OutputCommand
ALREADY_INVOKED = Outcome(failure=Failure(409, "the workflow method was already invoked"))


def input_frame(request: InvocationRequest) -> bytes:
    msg = pb.InputCommandMessage(headers=[pb.Header(key=k, value=v) for k, v in request.headers])
    msg.value.SetInParent()
    msg.value.content = request.input
    return encode_message(msg)


def scheduled_start(status: r.InvocationStatus) -> int | None:
    """When a delayed invocation starts (None unless it is scheduled)."""
    state = status.state
    return state.execute_at_ms if isinstance(state, r.Scheduled) else None


def on_invoke(ctx: ApplyContext, request: InvocationRequest, sink: IngressSink | None, send: bool) -> None:
    inv_id = request.invocation_id
    status = ctx.status(inv_id)
    if status is not None:
        _attach(ctx, inv_id, status, request, sink, send)
        return
    status = transitions.create(ctx, inv_id, request, sink, send, input_frame(request))
    if request.execute_at_ms is not None and request.execute_at_ms > ctx.now_ms:
        _add_timer(ctx, request.execute_at_ms, inv_id, START_TIMER)
    else:
        activate(ctx, inv_id, status)
    if sink is not None and send:
        # a call is answered by its result; the ingress re-sends a call that takes long, and that
        # re-send is acknowledged (in _attach), so no Accepted message is spent on every call
        ctx.actions.append(ReplyAccepted(sink, inv_id, False, scheduled_start(status)))


def _attach(
    ctx: ApplyContext,
    inv_id: bytes,
    status: r.InvocationStatus,
    request: InvocationRequest,
    sink: IngressSink | None,
    send: bool,
) -> None:
    """A request for an invocation that exists: a re-sent request, a repeated idempotency key or workflow run."""
    resent = sink is not None and _has_sink(status, sink)
    if sink is not None:
        ctx.actions.append(ReplyAccepted(sink, inv_id, not resent, scheduled_start(status)))
        if not send and resent:
            if isinstance(status.state, r.Completed):
                # its answer was lost: the process that owed it died after the outcome became durable,
                # or a new leader applied the outcome while catching up (no answers are sent then)
                attach_ingress(ctx, inv_id, status, sink)
        elif not send:
            if is_workflow_run(status):
                ctx.actions.append(ReplyDone(sink, inv_id, ALREADY_INVOKED, None, True))
            else:
                attach_ingress(ctx, inv_id, status, sink)
    if request.caller is not None:
        if is_workflow_run(status):
            ctx.send(request.caller.invocation_id, InvocationResponse(request.caller, ALREADY_INVOKED))
        else:
            attach_caller(ctx, inv_id, status, request.caller)


def _has_sink(status: r.InvocationStatus, sink: IngressSink) -> bool:
    """Whether this request already reached the invocation (the ingress re-sends unanswered requests)."""
    origin = status.origin
    if origin is not None and origin.node == sink.node and origin.request_id == sink.request_id:
        return True
    waiting = status.waiting
    return waiting is not None and any(s.node == sink.node and s.request_id == sink.request_id for s in waiting.ingress)


def attach_ingress(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, sink: IngressSink) -> None:
    """Answers with the stored outcome, or waits for it."""
    state = status.state
    if isinstance(state, r.Completed):
        ctx.actions.append(ReplyDone(sink, inv_id, convert.wire_outcome(state.outcome), state.expires_at_ms, True))
    elif not _has_sink(status, sink):
        transitions.add_ingress_waiter(ctx, inv_id, status, convert.ingress_waiter(sink))


def attach_caller(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, caller: CallerSink) -> None:
    state = status.state
    if isinstance(state, r.Completed):
        ctx.send(caller.invocation_id, InvocationResponse(caller, convert.wire_outcome(state.outcome)))
        return
    waiter = convert.caller_waiter(caller)
    if waiter not in state.callers:
        transitions.add_caller_waiter(ctx, inv_id, status, waiter)


def activate(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus) -> None:
    """Runs a scheduled invocation now, or queues it in its key's inbox when another holds the key's lock."""
    target = status.target
    if target.exclusive and target.key is not None:
        holder = ctx.tables.lock_holder(target.service, target.key)
        if holder is not None and holder != inv_id:
            seq = ctx.tables.enqueue(target.service, target.key, r.QueuedInvocation(invocation_id=inv_id))
            transitions.enqueue(ctx, inv_id, status, seq)
            return
        ctx.tables.lock(target.service, target.key, inv_id)
    transitions.start_attempt(ctx, inv_id, status)


def on_end(ctx: ApplyContext, inv_id: bytes, attempt: int) -> None:
    """The attempt ended: the invocation completes with the output it wrote (empty without one)."""
    status = ctx.status(inv_id)
    if status is not None and current_attempt(status, attempt):
        complete(ctx, inv_id, status, status.journal.output or EMPTY_OUTPUT)


def complete(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, outcome: r.OutcomeRecord) -> None:
    """Stores the outcome, answers everyone waiting, releases the key and starts the next in line."""
    expires_at_ms = ctx.now_ms + _retention_ms(ctx, status)
    waited = transitions.complete(ctx, inv_id, status, outcome, expires_at_ms)
    answer = convert.wire_outcome(outcome)
    for sink in waited.ingress:
        # a live answer: only replays of a stored result carry its expiry (as the real server does)
        ctx.actions.append(ReplyDone(convert.wire_ingress(sink), inv_id, answer))
    for caller in waited.callers:
        ctx.send(caller.invocation_id, InvocationResponse(convert.wire_caller(caller), answer))
    if _journal_retention_ms(ctx, status) == 0:
        transitions.drop_journal(ctx, inv_id, status)
    # otherwise the journal stays readable (introspection) until the invocation is purged
    _add_timer(ctx, expires_at_ms, inv_id, PURGE_TIMER)
    target = status.target
    if target.exclusive and target.key is not None and ctx.tables.lock_holder(target.service, target.key) == inv_id:
        ctx.tables.unlock(target.service, target.key)
        _start_next_in_inbox(ctx, target.service, target.key)


def _retention_ms(ctx: ApplyContext, status: r.InvocationStatus) -> int:
    """How long a completed invocation stays attachable: the workflow or idempotency retention."""
    service = ctx.schema.services.get(status.target.service)
    if service is None:
        return DEFAULT_RETENTION_MS
    handler = service.handlers.get(status.target.handler)
    field = "workflow_completion_retention_ms" if is_workflow_run(status) else "idempotency_retention_ms"
    found = getattr(handler, field) if handler is not None else None
    if found is None:
        found = getattr(service, field)
    return DEFAULT_RETENTION_MS if found is None else found


def _journal_retention_ms(ctx: ApplyContext, status: r.InvocationStatus) -> int:
    service = ctx.schema.services.get(status.target.service)
    if service is None:
        return DEFAULT_RETENTION_MS
    handler = service.handlers.get(status.target.handler)
    found = handler.journal_retention_ms if handler is not None else None
    if found is None:
        found = service.journal_retention_ms
    return DEFAULT_RETENTION_MS if found is None else found


def is_workflow_run(status: r.InvocationStatus) -> bool:
    return status.target.service_ty == "workflow" and status.target.exclusive


def _start_next_in_inbox(ctx: ApplyContext, service: str, key: str) -> None:
    while True:
        item = ctx.tables.pop_inbox(service, key)
        if item is None:
            return
        if isinstance(item, r.QueuedStateReplacement):
            apply_state_replacement(ctx, service, key, item)
            continue
        status = ctx.status(item.invocation_id)
        if status is not None and isinstance(status.state, r.Inboxed):
            ctx.tables.lock(service, key, item.invocation_id)
            transitions.start_attempt(ctx, item.invocation_id, status)
            return


def _add_timer(ctx: ApplyContext, wake_up_ms: int, inv_id: bytes, completion_id: int) -> None:
    ctx.tables.add_timer(wake_up_ms, inv_id, completion_id)
    ctx.actions.append(ArmTimer(wake_up_ms, inv_id, completion_id))


def _seen(journal: r.JournalIndex) -> awaiting.Notified:
    return awaiting.Notified(
        set(journal.completions), set(journal.signals), set(journal.signal_names), set(journal.failed_completions)
    )


def notify(
    ctx: ApplyContext,
    inv_id: bytes,
    status: r.InvocationStatus,
    frame: bytes,
    *,
    completion_id: int | None = None,
    signal_idx: int | None = None,
    signal_name: str | None = None,
    failed: bool = False,
    forward_frame: bytes | None = None,
) -> bool:
    """Appends a notification once per id and delivers it: live to a running attempt, or by resuming."""
    if isinstance(status.state, r.Completed):
        return False
    new = transitions.note_notification(
        ctx,
        inv_id,
        status,
        completion_id=completion_id,
        signal_idx=signal_idx,
        signal_name=signal_name,
        failed=failed,
        repeatable_signal=CANCEL_SIGNAL,
    )
    if not new:
        return False
    index = transitions.append_entry(ctx, inv_id, status, frame)
    state = status.state
    if isinstance(state, r.RUNNING):
        ctx.actions.append(ForwardEntry(inv_id, index, forward_frame or frame))
    elif isinstance(state, r.Suspended):
        if awaiting.can_resume(state.awaiting, _seen(status.journal)):
            transitions.start_attempt(ctx, inv_id, status)
    elif isinstance(state, r.Paused) and signal_idx == CANCEL_SIGNAL:
        transitions.start_attempt(ctx, inv_id, status)  # a paused invocation wakes up only to be cancelled
    return True


def current_attempt(status: r.InvocationStatus | None, attempt: int) -> bool:
    """Whether an invoker effect belongs to the invocation's running attempt (late ones are void)."""
    if status is None:
        return False
    state = status.state
    return isinstance(state, r.RUNNING) and state.attempts.number == attempt and not state.poisoned


def on_suspended(ctx: ApplyContext, inv_id: bytes, attempt: int, future: bytes) -> None:
    status = ctx.status(inv_id)
    if status is None or not current_attempt(status, attempt):
        return
    if awaiting.can_resume(future, _seen(status.journal)):
        transitions.start_attempt(ctx, inv_id, status)  # the awaited notification arrived while the SDK was suspending
        return
    transitions.suspend(ctx, inv_id, status, future)


def failure_text(failure: Failure) -> str:
    """`sys_invocation.last_failure`: "[code] message", then the SDK's stack trace on the next lines (as the
    real server shows it; a reader that wants one line takes the first)."""
    text = f"[{failure.code}] {failure.message}"
    return f"{text}\n{failure.stacktrace}" if failure.stacktrace else text


def on_attempt_failed(ctx: ApplyContext, cmd: AttemptFailedCmd) -> None:
    status = ctx.status(cmd.invocation_id)
    if status is None or status.status != "invoked" or status.attempt != cmd.attempt:
        return  # a late or duplicate report about an attempt that is already over
    transitions.attempt_failed(ctx, cmd.invocation_id, status, failure_text(cmd.failure))
    if cmd.retry_in_ms is not None:
        transitions.start_attempt(ctx, cmd.invocation_id, status, cmd.retry_in_ms)
    elif cmd.give_up == "pause":
        transitions.pause(ctx, cmd.invocation_id, status, touch=False)
    else:
        complete(ctx, cmd.invocation_id, status, convert.outcome(Outcome(failure=cmd.failure)))


def on_timer(ctx: ApplyContext, wake_up_ms: int, inv_id: bytes, completion_id: int) -> None:
    if not ctx.tables.timer_exists(wake_up_ms, inv_id, completion_id):
        return  # already fired and applied before a restart
    ctx.tables.delete_timer(wake_up_ms, inv_id, completion_id)
    status = ctx.status(inv_id)
    if status is None:
        return
    if completion_id == PURGE_TIMER:
        if isinstance(status.state, r.Completed):
            purge(ctx, inv_id, status)
    elif completion_id == START_TIMER:
        if isinstance(status.state, r.Scheduled):
            activate(ctx, inv_id, status)
    else:
        frame = notification(MessageType.SLEEP_COMPLETION, completion_id=completion_id, void=True)
        notify(ctx, inv_id, status, frame, completion_id=completion_id)


def receive_outbox(ctx: ApplyContext, source: int, seq: int, message: OutboxMessage) -> bool:
    """Applies an envelope exactly once: in order per source, duplicates and gaps are dropped.

    Returns whether the envelope is (now or already) applied, i.e. whether to acknowledge it.
    """
    last = ctx.tables.last_applied(source)
    if seq <= last:
        return True
    if seq != last + 1:
        return False
    ctx.tables.set_last_applied(source, seq)
    match message:
        case InvocationRequest():
            on_invoke(ctx, message, None, True)
        case InvocationResponse():
            _deliver_response(ctx, message.caller, message.outcome)
        case Signal():
            deliver_signal(ctx, message)
        case AttachOutput():
            _on_attach_output(ctx, message)
    return True


def _deliver_response(ctx: ApplyContext, caller: CallerSink, outcome: Outcome) -> None:
    status = ctx.status(caller.invocation_id)
    if status is None:
        return
    cid = caller.completion_id
    if outcome.value is None and outcome.failure is None:  # get-output of an unfinished invocation
        frame = notification(caller.kind, completion_id=cid, void=True)
    else:
        frame = result_notification(caller.kind, outcome, completion_id=cid)
    notify(ctx, caller.invocation_id, status, frame, completion_id=cid, failed=outcome.failure is not None)


def _on_attach_output(ctx: ApplyContext, message: AttachOutput) -> None:
    """A handler attaches to, or reads the output of, an invocation of this partition."""
    status = ctx.status(message.invocation_id)
    caller = message.caller
    if status is None:
        ctx.send(caller.invocation_id, InvocationResponse(caller, Outcome(failure=Failure(404, "not found"))))
    elif caller.kind == GET_OUTPUT_COMPLETION and not isinstance(status.state, r.Completed):
        ctx.send(caller.invocation_id, InvocationResponse(caller, Outcome()))
    else:
        attach_caller(ctx, message.invocation_id, status, caller)


def deliver_signal(ctx: ApplyContext, signal: Signal) -> None:
    status = ctx.status(signal.invocation_id)
    if status is None:
        return
    if signal.idx == CANCEL_SIGNAL and isinstance(status.state, r.NOT_STARTED):
        end_before_start(ctx, signal.invocation_id, status, Failure(409, "canceled"))
        return
    if signal.outcome is None:
        frame = notification(MessageType.SIGNAL, signal_idx=signal.idx, signal_name=signal.name, void=True)
    else:
        frame = result_notification(MessageType.SIGNAL, signal.outcome, signal_idx=signal.idx, signal_name=signal.name)
    notify(ctx, signal.invocation_id, status, frame, signal_idx=signal.idx, signal_name=signal.name)


def end_before_start(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus, failure: Failure) -> None:
    """Ends an invocation that never ran (inboxed or scheduled): cancel or kill. Like the real server,
    it is forgotten at once: its output and attach answer 404, it has no sys_invocation row, and an
    idempotency key it had is free again."""
    target, state = status.target, status.state
    if isinstance(state, r.Inboxed) and target.key is not None:
        ctx.tables.remove_from_inbox(target.service, target.key, state.inbox_seq)
    if isinstance(state, r.Scheduled):
        ctx.tables.delete_timer(state.execute_at_ms, inv_id, START_TIMER)
    complete(ctx, inv_id, status, convert.outcome(Outcome(failure=failure)))  # anyone waiting gets the failure
    purge(ctx, inv_id, status)


def purge(ctx: ApplyContext, inv_id: bytes, status: r.InvocationStatus) -> None:
    """Forgets a completed invocation; a workflow run takes its key's state and promises with it."""
    state = status.state
    if isinstance(state, r.Completed):
        ctx.tables.delete_timer(state.expires_at_ms, inv_id, PURGE_TIMER)
    target = status.target
    if is_workflow_run(status) and target.key is not None:
        ctx.tables.clear_all_state(target.service, target.key)
        ctx.tables.clear_promises(target.service, target.key)
    ctx.tables.delete_journal(inv_id)
    transitions.forget(ctx, inv_id)


def apply_state_replacement(ctx: ApplyContext, service: str, key: str, mutation: r.QueuedStateReplacement) -> None:
    """Replaces an object's whole state, unless the caller's version no longer matches (then dropped)."""
    if mutation.version is not None and mutation.version != state_version(ctx.tables.state(service, key)):
        return
    ctx.tables.clear_all_state(service, key)
    for name, value in mutation.new_state:
        ctx.tables.set_state(service, key, name, value)


def result_notification(msg_type: int, outcome: Outcome | r.OutcomeRecord, **ident: int | str | None) -> bytes:
    if outcome.failure is not None:
        return notification(msg_type, failure=_failure_pb(outcome.failure), **ident)  # type: ignore[arg-type]
    return notification(msg_type, value=outcome.value or b"", **ident)  # type: ignore[arg-type]


def _failure_pb(failure: Failure | r.FailureRecord) -> pb.Failure:
    msg = pb.Failure(code=failure.code, message=failure.message)
    for k, v in failure.metadata:
        msg.metadata.add(key=k, value=v)
    return msg
