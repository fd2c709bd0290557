"""The interpreter of what a deployment sends during an attempt (PROTOCOL.md 8.1): each command is checked,
stored in the journal and acted on; a run proposal becomes the run's completion."""

from __future__ import annotations

from collections.abc import Callable

import xxhash

from restate import ids
from restate.partition import convert, lifecycle, promises, transitions
from restate.partition.actions import AbortAttempt, ArmTimer, ForwardEntry
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import SdkMessageCmd
from restate.protocol import (
    REQUESTED_ACK,
    MessageType,
    ProtocolError,
    decode_message,
    encode_frame,
    notification,
)
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.messages import command_ack, propose_run_completion_ack, run_completion_from_proposal
from restate.schema import is_exclusive
from restate.storage.records import FailureRecord, InvocationStatus, OutcomeRecord
from restate.tracing import trace_context
from restate.wire import (
    ATTACH_COMPLETION,
    GET_OUTPUT_COMPLETION,
    AttachOutput,
    CallerSink,
    Failure,
    InvocationRequest,
    Outcome,
    Signal,
    Target,
    TraceContext,
)

T = MessageType


FollowUp = Callable[[], None] | None


class PreconditionFailed(Exception):
    """The command is refused: not stored, and the attempt fails and is retried (PROTOCOL.md 8.1)."""


def on_sdk_message(ctx: ApplyContext, cmd: SdkMessageCmd) -> None:
    status = ctx.status(cmd.invocation_id)
    if status is None or not lifecycle.current_attempt(status, cmd.attempt):
        return  # the attempt is over (completed, killed, superseded) or was refused: its late messages are void
    try:
        if cmd.msg_type == T.PROPOSE_RUN_COMPLETION:
            _on_propose_run(ctx, cmd, status)
        else:
            _on_command(ctx, cmd, status)
    except (PreconditionFailed, ProtocolError) as exc:
        transitions.poison(ctx, cmd.invocation_id, status)
        ctx.actions.append(AbortAttempt(cmd.invocation_id, cmd.attempt, str(exc)))


def _on_propose_run(ctx: ApplyContext, cmd: SdkMessageCmd, status: InvocationStatus) -> None:
    proposal = decode_message(cmd.msg_type, cmd.payload)
    assert isinstance(proposal, pb.ProposeRunCompletionMessage)
    cid = proposal.result_completion_id
    frame = run_completion_from_proposal(proposal)
    ack = propose_run_completion_ack(cid) if cmd.flags & REQUESTED_ACK else None
    lifecycle.notify(
        ctx,
        cmd.invocation_id,
        status,
        frame,
        completion_id=cid,
        failed=proposal.WhichOneof("result") == "failure",
        forward_frame=ack,
    )


def _on_command(ctx: ApplyContext, cmd: SdkMessageCmd, status: InvocationStatus) -> None:
    if cmd.msg_type == T.INPUT or not (0x0400 <= cmd.msg_type <= 0xFFFF) or 0x8000 <= cmd.msg_type < 0xFC00:
        raise ProtocolError(f"unexpected message type 0x{cmd.msg_type:04x} from the deployment")
    handler = _HANDLERS.get(cmd.msg_type)
    message = None if cmd.msg_type >= 0xFC00 else decode_message(cmd.msg_type, cmd.payload)
    # validates (may raise PreconditionFailed: then nothing is stored) and returns what follows the store
    follow_up = handler(ctx, cmd.invocation_id, status, message) if handler is not None else None
    command_index = transitions.append_command(ctx, cmd.invocation_id, status, encode_frame(cmd.msg_type, cmd.payload))
    if follow_up is not None:
        follow_up()
    if cmd.flags & REQUESTED_ACK:
        ctx.actions.append(ForwardEntry(cmd.invocation_id, -1, command_ack(command_index)))


# --- validation + effects that happen before the command is appended


def _keyed(status: InvocationStatus, write: bool) -> tuple[str, str]:
    target = status.target
    if target.key is None:
        raise PreconditionFailed("state access is only allowed for virtual objects and workflows")
    if write and not target.exclusive:
        raise PreconditionFailed("state writes are not allowed in shared handlers")
    return target.service, target.key


def _set_state(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.SetStateCommandMessage)
    service, key = _keyed(status, write=True)
    ctx.tables.set_state(service, key, msg.key, msg.value.content)


def _clear_state(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.ClearStateCommandMessage)
    service, key = _keyed(status, write=True)
    ctx.tables.clear_state(service, key, msg.key)


def _clear_all_state(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    service, key = _keyed(status, write=True)
    ctx.tables.clear_all_state(service, key)


def _check_read(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    _keyed(status, write=False)


def _notify(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, frame: bytes, completion_id: int) -> None:
    lifecycle.notify(ctx, inv_id, status, frame, completion_id=completion_id)


def _get_lazy_state(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.GetLazyStateCommandMessage)
    service, key = _keyed(status, write=False)
    value = ctx.tables.state_value(service, key, msg.key)
    cid = msg.result_completion_id
    if value is None:
        frame = notification(T.GET_LAZY_STATE_COMPLETION, completion_id=cid, void=True)
    else:
        frame = notification(T.GET_LAZY_STATE_COMPLETION, completion_id=cid, value=value)
    return lambda: _notify(ctx, inv_id, status, frame, cid)


def _get_lazy_state_keys(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.GetLazyStateKeysCommandMessage)
    service, key = _keyed(status, write=False)
    names = sorted(ctx.tables.state_names(service, key))
    cid = msg.result_completion_id
    frame = notification(T.GET_LAZY_STATE_KEYS_COMPLETION, completion_id=cid, state_keys=names)
    return lambda: _notify(ctx, inv_id, status, frame, cid)


def _output(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.OutputCommandMessage)
    if msg.WhichOneof("result") == "failure":
        f = msg.failure
        failure = FailureRecord(code=f.code, message=f.message, metadata=[(m.key, m.value) for m in f.metadata])
        transitions.set_output(ctx, inv_id, status, OutcomeRecord(failure=failure))
    else:
        transitions.set_output(ctx, inv_id, status, OutcomeRecord(value=msg.value.content))


def _sleep(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.SleepCommandMessage)
    ctx.tables.add_timer(msg.wake_up_time, inv_id, msg.result_completion_id)
    ctx.actions.append(ArmTimer(msg.wake_up_time, inv_id, msg.result_completion_id))


def _resolve_target(ctx: ApplyContext, service: str, handler: str, key: str) -> Target:
    found = ctx.schema.handler(service, handler)
    if found is None:
        raise PreconditionFailed(f"the service handler {service}/{handler} was not found")
    svc, h = found
    if not svc.keyed and key:
        raise PreconditionFailed(f"the service {service} is not keyed, but a key was given")
    ty = {"Service": "service", "VirtualObject": "virtual_object", "Workflow": "workflow"}[svc.ty]
    return Target(service, handler, key if svc.keyed else None, ty, is_exclusive(svc, h))  # type: ignore[arg-type]


def _callee_id(ctx: ApplyContext, caller: bytes, status: InvocationStatus, target: Target, idem: str | None) -> bytes:
    """Derived from the caller and command index (or from the idempotency key): no randomness here."""
    if target.service_ty == "workflow" and target.exclusive and target.key is not None:
        return ids.workflow_run_id(target.service, target.key).to_bytes()
    if idem is not None:
        if idem == "":
            raise PreconditionFailed("the idempotency key must not be empty")
        return ids.idempotent_id(target.service, target.key, target.handler, idem).to_bytes()
    seed = caller + status.journal.commands.to_bytes(4, "big")
    pk = ids.partition_key_for(target.key) if target.key is not None else xxhash.xxh3_64_intdigest(seed)
    return ids.InvocationId(pk, xxhash.xxh3_128_digest(seed)).to_bytes()


def _call(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.CallCommandMessage | pb.OneWayCallCommandMessage)
    target = _resolve_target(ctx, msg.service_name, msg.handler_name, msg.key)
    idem = msg.idempotency_key if msg.HasField("idempotency_key") else None
    callee = _callee_id(ctx, inv_id, status, target, idem)
    is_call = isinstance(msg, pb.CallCommandMessage)
    caller = CallerSink(inv_id, msg.result_completion_id) if is_call else None
    execute_at = None if is_call or msg.invoke_time <= ctx.now_ms else msg.invoke_time  # type: ignore[union-attr]
    request = InvocationRequest(
        invocation_id=callee,
        target=target,
        input=msg.parameter,
        headers=[(h.key, h.value) for h in msg.headers],
        idempotency_key=idem,
        execute_at_ms=execute_at,
        caller=caller,
        caller_id=inv_id,
        trace=None if status.trace is None else _callee_trace(status, inv_id, callee, is_call),
    )
    ctx.send(callee, request)
    idx = msg.invocation_id_notification_idx
    frame = notification(
        T.CALL_INVOCATION_ID, completion_id=idx, invocation_id=str(ids.InvocationId.from_bytes(callee))
    )
    return lambda: _notify(ctx, inv_id, status, frame, idx)


def _callee_trace(status: InvocationStatus, caller: bytes, callee: bytes, is_call: bool) -> TraceContext | None:
    """A call continues the caller's trace under its current attempt's span; a one-way send starts a trace
    linked to that span (as the real server)."""
    own = convert.wire_trace(status.trace)
    assert own is not None
    if is_call:
        return trace_context.for_call(own, caller, status.attempt)
    return trace_context.for_send(own, caller, status.attempt, callee)


def _signal_target(text: str) -> bytes:
    try:
        return ids.InvocationId.parse(text).to_bytes()
    except ids.IdError as exc:
        raise PreconditionFailed(f"bad invocation id {text!r}: {exc}") from exc


def _outcome_of(msg: pb.SendSignalCommandMessage | pb.CompleteAwakeableCommandMessage) -> Outcome | None:
    which = msg.WhichOneof("result")
    if which == "value":
        return Outcome(value=msg.value.content)
    if which == "failure":
        f = msg.failure
        return Outcome(failure=Failure(f.code, f.message, [(m.key, m.value) for m in f.metadata]))
    return None


def _send_signal(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.SendSignalCommandMessage)
    target = _signal_target(msg.target_invocation_id)
    which = msg.WhichOneof("signal_id")
    idx = msg.idx if which == "idx" else None
    name = msg.name if which == "name" else None
    if idx is None and name is None:
        raise PreconditionFailed("SendSignal without a signal id")
    ctx.send(target, Signal(target, idx, name, _outcome_of(msg)))


def _complete_awakeable(ctx: ApplyContext, _id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.CompleteAwakeableCommandMessage)
    try:
        target, idx = ids.parse_awakeable_id(msg.awakeable_id)
    except ids.IdError as exc:
        raise PreconditionFailed(f"bad awakeable id {msg.awakeable_id!r}: {exc}") from exc
    raw = target.to_bytes()
    ctx.send(raw, Signal(raw, idx, None, _outcome_of(msg)))


def _promise(handler: _Handler) -> _Handler:
    def checked(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
        try:
            return handler(ctx, inv_id, status, msg)
        except promises.NotAWorkflow as exc:
            raise PreconditionFailed(str(exc)) from exc

    return checked


def _attach_target(msg: pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage) -> bytes:
    which = msg.WhichOneof("target")
    if which == "invocation_id":
        return _signal_target(msg.invocation_id)
    if which == "idempotent_request_target":
        t = msg.idempotent_request_target
        key = t.service_key if t.HasField("service_key") else None
        return ids.idempotent_id(t.service_name, key, t.handler_name, t.idempotency_key).to_bytes()
    if which == "workflow_target":
        w = msg.workflow_target
        return ids.workflow_run_id(w.workflow_name, w.workflow_key).to_bytes()
    raise PreconditionFailed("attach/get-output without a target")


def _attach_or_output(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> None:
    assert isinstance(msg, pb.AttachInvocationCommandMessage | pb.GetInvocationOutputCommandMessage)
    target = _attach_target(msg)
    kind = ATTACH_COMPLETION if isinstance(msg, pb.AttachInvocationCommandMessage) else GET_OUTPUT_COMPLETION
    ctx.send(target, AttachOutput(target, CallerSink(inv_id, msg.result_completion_id, kind)))


_Handler = Callable[[ApplyContext, bytes, InvocationStatus, object], "FollowUp"]
_HANDLERS: dict[int, _Handler] = {
    T.OUTPUT: _output,
    T.SET_STATE: _set_state,
    T.CLEAR_STATE: _clear_state,
    T.CLEAR_ALL_STATE: _clear_all_state,
    T.GET_LAZY_STATE: _get_lazy_state,
    T.GET_LAZY_STATE_KEYS: _get_lazy_state_keys,
    T.GET_EAGER_STATE: _check_read,
    T.GET_EAGER_STATE_KEYS: _check_read,
    T.SLEEP: _sleep,
    T.CALL: _call,
    T.ONE_WAY_CALL: _call,
    T.SEND_SIGNAL: _send_signal,
    T.COMPLETE_AWAKEABLE: _complete_awakeable,
    T.GET_PROMISE: _promise(promises.get_promise),
    T.PEEK_PROMISE: _promise(promises.peek_promise),
    T.COMPLETE_PROMISE: _promise(promises.complete_promise),
    T.ATTACH_INVOCATION: _attach_or_output,
    T.GET_INVOCATION_OUTPUT: _attach_or_output,
}
