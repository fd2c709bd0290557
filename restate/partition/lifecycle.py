"""Invocation lifecycle: create, queue behind a key's lock, run, suspend, notify, retry, complete."""

from __future__ import annotations

from restate.partition import awaiting
from restate.partition.commands import AttemptFailedCmd
from restate.partition.context import ApplyContext
from restate.partition.model import (
    ArmTimer,
    ForwardEntry,
    InvocationStatus,
    ReplyAccepted,
    ReplyDone,
    StartAttempt,
    StateMutation,
)
from restate.partition.state_version import state_version
from restate.protocol import MessageType, encode_message, notification
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.messages import negotiate
from restate.schema import DEFAULT_RETENTION_MS
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


def input_frame(request: InvocationRequest) -> bytes:
    msg = pb.InputCommandMessage(headers=[pb.Header(key=k, value=v) for k, v in request.headers])
    msg.value.SetInParent()
    msg.value.content = request.input
    return encode_message(msg)


def on_invoke(ctx: ApplyContext, request: InvocationRequest, sink: IngressSink | None, send: bool) -> None:
    inv_id = request.invocation_id
    status = ctx.tables.status(inv_id)
    if status is not None:
        _attach(ctx, inv_id, status, request, sink, send)
        return
    status = InvocationStatus(
        status="scheduled",
        target=request.target,
        created_at_ms=ctx.now_ms,
        modified_at_ms=ctx.now_ms,
        idempotency_key=request.idempotency_key,
        execute_at_ms=request.execute_at_ms,
        caller_id=request.caller_id,
    )
    if request.caller is not None:
        status.callers = [request.caller]
    if sink is not None:
        status.origin = sink
        if not send:
            status.ingress_sinks = [sink]
    ctx.tables.append_entry(inv_id, status, input_frame(request), ctx.now_ms)
    if request.execute_at_ms is not None and request.execute_at_ms > ctx.now_ms:
        _add_timer(ctx, request.execute_at_ms, inv_id, START_TIMER)
        ctx.tables.put_status(inv_id, status)
    else:
        status.execute_at_ms = None
        activate(ctx, inv_id, status)
    if sink is not None and send:
        # a call is answered by its result; the ingress re-sends a call that takes long, and that
        # re-send is acknowledged (in _attach), so no Accepted message is spent on every call
        ctx.actions.append(ReplyAccepted(sink, inv_id, False, status.execute_at_ms))


def _attach(
    ctx: ApplyContext,
    inv_id: bytes,
    status: InvocationStatus,
    request: InvocationRequest,
    sink: IngressSink | None,
    send: bool,
) -> None:
    """A request for an invocation that exists: a re-sent request, a repeated idempotency key or workflow run."""
    resent = sink is not None and _has_sink(status, sink)
    if sink is not None:
        ctx.actions.append(ReplyAccepted(sink, inv_id, not resent, status.execute_at_ms))
        if not send and not resent:
            if status.target.service_ty == "workflow" and status.target.exclusive:
                already = Outcome(failure=Failure(409, "the workflow method was already invoked"))
                ctx.actions.append(ReplyDone(sink, inv_id, already, None, True))
            else:
                attach_ingress(ctx, inv_id, status, sink)
    if request.caller is not None:
        if is_workflow_run(status):
            already = Outcome(failure=Failure(409, "the workflow method was already invoked"))
            ctx.send(request.caller.invocation_id, InvocationResponse(request.caller, already))
        else:
            attach_caller(ctx, inv_id, status, request.caller)


def _has_sink(status: InvocationStatus, sink: IngressSink) -> bool:
    """Whether this request already reached the invocation (the ingress re-sends unanswered requests)."""
    origin = status.origin
    if origin is not None and origin.node == sink.node and origin.request_id == sink.request_id:
        return True
    return any(s.node == sink.node and s.request_id == sink.request_id for s in status.ingress_sinks)


def attach_ingress(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, sink: IngressSink) -> None:
    """Answers with the stored outcome, or waits for it."""
    if status.status == "completed" and status.outcome is not None:
        ctx.actions.append(ReplyDone(sink, inv_id, status.outcome, status.expires_at_ms, True))
    elif not _has_sink(status, sink):
        status.ingress_sinks.append(sink)
        ctx.tables.put_status(inv_id, status)


def attach_caller(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, caller: CallerSink) -> None:
    if status.status == "completed" and status.outcome is not None:
        ctx.send(caller.invocation_id, InvocationResponse(caller, status.outcome))
    elif caller not in status.callers:
        status.callers.append(caller)
        ctx.tables.put_status(inv_id, status)


def activate(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus) -> None:
    """Runs the invocation now, or queues it in its key's inbox when another invocation holds the lock."""
    target = status.target
    if target.exclusive and target.key is not None:
        holder = ctx.tables.lock_holder(target.service, target.key)
        if holder is not None and holder != inv_id:
            status.status = "inboxed"
            status.inbox_seq = ctx.tables.enqueue_inbox(target.service, target.key, inv_id)
            ctx.tables.put_status(inv_id, status)
            return
        ctx.tables.lock(target.service, target.key, inv_id)
    status.inbox_seq = None
    start_attempt(ctx, inv_id, status)


def start_attempt(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, delay_ms: int = 0) -> None:
    """Marks the invocation running and pins deployment + protocol version on its first attempt."""
    status.status = "invoked"
    status.awaiting = None
    status.poisoned = False
    status.attempt += 1
    status.modified_at_ms = ctx.now_ms
    if status.deployment_id is None:
        _pin_deployment(ctx, status)
    ctx.tables.put_status(inv_id, status)
    ctx.actions.append(StartAttempt(inv_id, delay_ms))


def _pin_deployment(ctx: ApplyContext, status: InvocationStatus) -> None:
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


def complete(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, outcome: Outcome) -> None:
    """Stores the outcome, answers everyone waiting, releases the key and starts the next in line."""
    status.status = "completed"
    status.outcome = outcome
    status.awaiting = None
    status.pending_output = None
    status.modified_at_ms = ctx.now_ms
    status.expires_at_ms = ctx.now_ms + _retention_ms(ctx, status)
    for sink in status.ingress_sinks:
        # a live answer: only replays of a stored result carry its expiry (as the real server does)
        ctx.actions.append(ReplyDone(sink, inv_id, outcome))
    for caller in status.callers:
        ctx.send(caller.invocation_id, InvocationResponse(caller, outcome))
    status.ingress_sinks = []
    status.callers = []
    if _journal_retention_ms(ctx, status) == 0:
        drop_journal(ctx, inv_id, status)
    # otherwise the journal stays readable (introspection) until the invocation is purged
    _add_timer(ctx, status.expires_at_ms, inv_id, PURGE_TIMER)
    ctx.tables.put_status(inv_id, status)
    target = status.target
    if target.exclusive and target.key is not None and ctx.tables.lock_holder(target.service, target.key) == inv_id:
        ctx.tables.unlock(target.service, target.key)
        _start_next_in_inbox(ctx, target.service, target.key)


def drop_journal(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus) -> None:
    """Deletes a completed invocation's journal; its sizes drop to 0 with it, as on the real server
    (sys_invocation.journal_size and journal_commands_size); the caller stores the status."""
    ctx.tables.delete_journal(inv_id)
    status.journal_len = 0
    status.command_count = 0


def _retention_ms(ctx: ApplyContext, status: InvocationStatus) -> int:
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


def _journal_retention_ms(ctx: ApplyContext, status: InvocationStatus) -> int:
    service = ctx.schema.services.get(status.target.service)
    if service is None:
        return DEFAULT_RETENTION_MS
    handler = service.handlers.get(status.target.handler)
    found = handler.journal_retention_ms if handler is not None else None
    if found is None:
        found = service.journal_retention_ms
    return DEFAULT_RETENTION_MS if found is None else found


def is_workflow_run(status: InvocationStatus) -> bool:
    return status.target.service_ty == "workflow" and status.target.exclusive


def _start_next_in_inbox(ctx: ApplyContext, service: str, key: str) -> None:
    next_id = ctx.tables.pop_inbox(service, key)
    if next_id is None:
        return
    if isinstance(next_id, StateMutation):
        apply_state_mutation(ctx, service, key, next_id)
        _start_next_in_inbox(ctx, service, key)
        return
    status = ctx.tables.status(next_id)
    if status is None or status.status != "inboxed":
        _start_next_in_inbox(ctx, service, key)
        return
    ctx.tables.lock(service, key, next_id)
    status.inbox_seq = None
    start_attempt(ctx, next_id, status)


def _add_timer(ctx: ApplyContext, wake_up_ms: int, inv_id: bytes, completion_id: int) -> None:
    ctx.tables.add_timer(wake_up_ms, inv_id, completion_id)
    ctx.actions.append(ArmTimer(wake_up_ms, inv_id, completion_id))


def _seen(status: InvocationStatus) -> awaiting.Notified:
    return awaiting.Notified(
        set(status.completions), set(status.signals), set(status.signal_names), set(status.failed_completions)
    )


def notify(
    ctx: ApplyContext,
    inv_id: bytes,
    status: InvocationStatus,
    frame: bytes,
    *,
    completion_id: int | None = None,
    signal_idx: int | None = None,
    signal_name: str | None = None,
    failed: bool = False,
    forward_frame: bytes | None = None,
) -> bool:
    """Appends a notification once per id and delivers it: live to a running attempt, or by resuming."""
    if status.status == "completed":
        return False
    if completion_id is not None:
        if completion_id in status.completions:
            return False
        status.completions.append(completion_id)
        if failed:
            status.failed_completions.append(completion_id)
    elif signal_idx is not None:
        if signal_idx in status.signals and signal_idx != CANCEL_SIGNAL:
            return False
        status.signals.append(signal_idx)
    elif signal_name is not None:
        status.signal_names.append(signal_name)
    index = ctx.tables.append_entry(inv_id, status, frame, ctx.now_ms)
    if status.status == "invoked":
        ctx.actions.append(ForwardEntry(inv_id, index, forward_frame or frame))
    elif status.status == "suspended" and status.awaiting is not None:
        if awaiting.can_resume(status.awaiting, _seen(status)):
            start_attempt(ctx, inv_id, status)
            return True
    elif status.status == "paused" and signal_idx == CANCEL_SIGNAL:
        start_attempt(ctx, inv_id, status)  # a paused invocation wakes up only to be cancelled
        return True
    ctx.tables.put_status(inv_id, status)
    return True


def current_attempt(status: InvocationStatus | None, attempt: int) -> bool:
    """Whether an invoker effect belongs to the invocation's running attempt (late ones are void)."""
    return status is not None and status.status == "invoked" and status.attempt == attempt and not status.poisoned


def on_suspended(ctx: ApplyContext, inv_id: bytes, attempt: int, future: bytes) -> None:
    status = ctx.tables.status(inv_id)
    if status is None or not current_attempt(status, attempt):
        return
    if awaiting.can_resume(future, _seen(status)):
        start_attempt(ctx, inv_id, status)  # the awaited notification arrived while the SDK was suspending
        return
    status.status = "suspended"
    status.awaiting = future
    status.modified_at_ms = ctx.now_ms
    ctx.tables.put_status(inv_id, status)


def on_attempt_failed(ctx: ApplyContext, cmd: AttemptFailedCmd) -> None:
    status = ctx.tables.status(cmd.invocation_id)
    if status is None or status.status != "invoked" or status.attempt != cmd.attempt:
        return  # a late or duplicate report about an attempt that is already over
    status.retry_count += 1
    status.last_failure = f"[{cmd.failure.code}] {cmd.failure.message}"
    if cmd.retry_in_ms is not None:
        start_attempt(ctx, cmd.invocation_id, status, cmd.retry_in_ms)
    elif cmd.give_up == "pause":
        status.status = "paused"
        status.poisoned = False
        ctx.tables.put_status(cmd.invocation_id, status)
    else:
        complete(ctx, cmd.invocation_id, status, Outcome(failure=cmd.failure))


def on_timer(ctx: ApplyContext, wake_up_ms: int, inv_id: bytes, completion_id: int) -> None:
    if not ctx.tables.timer_exists(wake_up_ms, inv_id, completion_id):
        return  # already fired and applied before a restart
    ctx.tables.delete_timer(wake_up_ms, inv_id, completion_id)
    status = ctx.tables.status(inv_id)
    if status is None:
        return
    if completion_id == PURGE_TIMER:
        if status.status == "completed":
            purge(ctx, inv_id, status)
    elif completion_id == START_TIMER:
        if status.status == "scheduled":
            status.execute_at_ms = None
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
    status = ctx.tables.status(caller.invocation_id)
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
    status = ctx.tables.status(message.invocation_id)
    caller = message.caller
    if status is None:
        ctx.send(caller.invocation_id, InvocationResponse(caller, Outcome(failure=Failure(404, "not found"))))
    elif caller.kind == GET_OUTPUT_COMPLETION and status.status != "completed":
        ctx.send(caller.invocation_id, InvocationResponse(caller, Outcome()))
    else:
        attach_caller(ctx, message.invocation_id, status, caller)


def deliver_signal(ctx: ApplyContext, signal: Signal) -> None:
    status = ctx.tables.status(signal.invocation_id)
    if status is None:
        return
    if signal.idx == CANCEL_SIGNAL and status.status in ("inboxed", "scheduled"):
        end_before_start(ctx, signal.invocation_id, status, Failure(409, "canceled"))
        return
    if signal.outcome is None:
        frame = notification(MessageType.SIGNAL, signal_idx=signal.idx, signal_name=signal.name, void=True)
    else:
        frame = result_notification(MessageType.SIGNAL, signal.outcome, signal_idx=signal.idx, signal_name=signal.name)
    notify(ctx, signal.invocation_id, status, frame, signal_idx=signal.idx, signal_name=signal.name)


def end_before_start(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, failure: Failure) -> None:
    """Ends an invocation that never ran (inboxed or scheduled): cancel or kill. Like the real server,
    it is forgotten at once: its output and attach answer 404, it has no sys_invocation row, and an
    idempotency key it had is free again."""
    target = status.target
    if status.status == "inboxed" and status.inbox_seq is not None and target.key is not None:
        ctx.tables.remove_from_inbox(target.service, target.key, status.inbox_seq)
    if status.status == "scheduled" and status.execute_at_ms is not None:
        ctx.tables.delete_timer(status.execute_at_ms, inv_id, START_TIMER)
    status.inbox_seq = None
    complete(ctx, inv_id, status, Outcome(failure=failure))  # anyone waiting gets the failure
    purge(ctx, inv_id, status)


def purge(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus) -> None:
    """Forgets a completed invocation; a workflow run takes its key's state and promises with it."""
    if status.expires_at_ms is not None:
        ctx.tables.delete_timer(status.expires_at_ms, inv_id, PURGE_TIMER)
    target = status.target
    if is_workflow_run(status) and target.key is not None:
        ctx.tables.clear_all_state(target.service, target.key)
        ctx.tables.clear_promises(target.service, target.key)
    ctx.tables.delete_journal(inv_id)
    ctx.tables.delete_status(inv_id)


def apply_state_mutation(ctx: ApplyContext, service: str, key: str, mutation: StateMutation) -> None:
    """Replaces an object's whole state, unless the caller's version no longer matches (then dropped)."""
    if mutation.version is not None and mutation.version != state_version(ctx.tables.state_items(service, key)):
        return
    ctx.tables.clear_all_state(service, key)
    for name, value in mutation.new_state:
        ctx.tables.set_state(service, key, name, value)


def result_notification(msg_type: int, outcome: Outcome, **ident: int | str | None) -> bytes:
    if outcome.failure is not None:
        f = outcome.failure
        return notification(msg_type, failure=_failure_pb(f), **ident)  # type: ignore[arg-type]
    return notification(msg_type, value=outcome.value or b"", **ident)  # type: ignore[arg-type]


def _failure_pb(failure: Failure) -> pb.Failure:
    msg = pb.Failure(code=failure.code, message=failure.message)
    for k, v in failure.metadata:
        msg.metadata.add(key=k, value=v)
    return msg
