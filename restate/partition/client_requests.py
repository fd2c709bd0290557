"""Requests from ingress and admin about existing invocations: output/attach, awakeables, cancel, kill,
pause, resume, purge, and object state replacement. Every request gets exactly one answer."""

from __future__ import annotations

from collections.abc import Callable

from restate import ids
from restate.partition import convert, lifecycle, transitions
from restate.partition.actions import KillAttempt, Reply
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import RequestCmd
from restate.storage.records import InvocationStatus, QueuedStateReplacement
from restate.wire import (
    CommandResult,
    Done,
    Failure,
    IngressSink,
    ManageInvocation,
    NotFound,
    NotReady,
    Outcome,
    OutputRequest,
    ReplaceObjectState,
    ResolveAwakeable,
    Signal,
)


def on_request(ctx: ApplyContext, cmd: RequestCmd) -> None:
    message = cmd.message
    match message:
        case OutputRequest():
            _output(ctx, cmd.node, message)
        case ResolveAwakeable():
            signal = Signal(message.invocation_id, message.signal_idx, None, message.outcome)
            lifecycle.deliver_signal(ctx, signal)  # unknown or completed targets: fire-and-forget
            ctx.actions.append(Reply(cmd.node, Done(message.request_id)))
        case ManageInvocation():
            status_code, text = _manage(ctx, message)
            ctx.actions.append(Reply(cmd.node, CommandResult(message.request_id, status_code, text)))
        case ReplaceObjectState():
            _replace_state(ctx, message)
            ctx.actions.append(Reply(cmd.node, Done(message.request_id)))


def _output(ctx: ApplyContext, node: str, request: OutputRequest) -> None:
    status = ctx.status(request.invocation_id)
    if status is None:
        ctx.actions.append(Reply(node, NotFound(request.request_id)))
    elif request.wait or status.status == "completed":
        sink = IngressSink(node, request.request_id)
        lifecycle.attach_ingress(ctx, request.invocation_id, status, sink)
    else:
        ctx.actions.append(Reply(node, NotReady(request.request_id, request.invocation_id)))


def _replace_state(ctx: ApplyContext, request: ReplaceObjectState) -> None:
    mutation = QueuedStateReplacement(new_state=list(request.new_state), version=request.version)
    if ctx.tables.lock_holder(request.service, request.key) is not None:
        ctx.tables.enqueue(request.service, request.key, mutation)  # after the lock holder
    else:
        lifecycle.apply_state_replacement(ctx, request.service, request.key, mutation)


# --- invocation management (HTTP-API.md 2.2, 2.6)

Result = tuple[int, str | None]


def _manage(ctx: ApplyContext, request: ManageInvocation) -> Result:
    inv_id = request.invocation_id
    name = str(ids.InvocationId.from_bytes(inv_id))
    status = ctx.status(inv_id)
    if status is None:
        return 404, f"The requested invocation '{name}' does not exist"
    return _OPS[request.op](ctx, inv_id, status, name)


def _cancel(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status == "completed":
        return 409, f"The invocation '{name}' was already completed."
    if status.status in ("inboxed", "scheduled"):
        lifecycle.end_before_start(ctx, inv_id, status, Failure(409, "canceled"))
        return 200, None
    # running, suspended or paused: the SDK sees signal 1 and ends the invocation itself
    lifecycle.deliver_signal(ctx, Signal(inv_id, lifecycle.CANCEL_SIGNAL))
    return 202, None


def _kill(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status == "completed":
        return 409, f"The invocation '{name}' was already completed."
    if status.status in ("inboxed", "scheduled"):
        lifecycle.end_before_start(ctx, inv_id, status, Failure(409, "killed"))
        return 200, None
    ctx.actions.append(KillAttempt(inv_id))
    lifecycle.complete(ctx, inv_id, status, convert.outcome(Outcome(failure=Failure(409, "killed"))))
    return 200, None


def _pause(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status == "paused":
        return 200, None
    if status.status not in ("invoked", "suspended"):
        return 409, f"The invocation '{name}' is not running, cannot be paused."
    if status.status == "invoked":
        ctx.actions.append(KillAttempt(inv_id))
    transitions.pause(ctx, inv_id, status)
    return 202, None


def _resume(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status == "completed":
        return 409, f"The invocation '{name}' is completed, cannot be resumed."
    if status.status in ("inboxed", "scheduled"):
        return 425, f"The invocation '{name}' is either inboxed or scheduled, cannot be resumed."
    if status.status in ("paused", "suspended"):
        transitions.start_attempt(ctx, inv_id, status)  # a suspended one is replayed and re-checks its await
    return 200, None


def _purge(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status != "completed":
        return 409, f"The invocation '{name}' is not yet completed."
    lifecycle.purge(ctx, inv_id, status)
    return 200, None


def _purge_journal(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, name: str) -> Result:
    if status.status != "completed":
        return 409, f"The invocation '{name}' is not yet completed."
    transitions.drop_journal(ctx, inv_id, status)
    return 200, None


_OPS: dict[str, Callable[[ApplyContext, bytes, InvocationStatus, str], Result]] = {
    "cancel": _cancel,
    "kill": _kill,
    "pause": _pause,
    "resume": _resume,
    "purge": _purge,
    "purge_journal": _purge_journal,
}
