"""Workflow durable promises: GetPromise waits, PeekPromise looks, CompletePromise resolves once."""

from __future__ import annotations

from collections.abc import Callable

from restate.partition import lifecycle
from restate.partition.apply_context import ApplyContext
from restate.protocol import MessageType, notification
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.storage.records import FailureRecord, InvocationStatus, OutcomeRecord, PromiseListener, PromiseRecord
from restate.wire import Failure, Outcome

T = MessageType
FollowUp = Callable[[], None]
ALREADY_COMPLETED = Failure(409, "promise was already completed")


class NotAWorkflow(Exception):
    """Promise commands are only valid in workflow handlers."""


def _workflow_key(status: InvocationStatus) -> tuple[str, str]:
    target = status.target
    if target.service_ty != "workflow" or target.key is None:
        raise NotAWorkflow("durable promises are only available to workflows")
    return target.service, target.key


def _outcome_of(msg: pb.CompletePromiseCommandMessage) -> OutcomeRecord:
    if msg.WhichOneof("completion") == "completion_failure":
        f = msg.completion_failure
        metadata = [(m.key, m.value) for m in f.metadata]
        return OutcomeRecord(failure=FailureRecord(code=f.code, message=f.message, metadata=metadata))
    return OutcomeRecord(value=msg.completion_value.content)


def get_promise(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.GetPromiseCommandMessage)
    service, key = _workflow_key(status)
    cid = msg.result_completion_id

    def follow_up() -> None:
        record = ctx.tables.promise(service, key, msg.key) or PromiseRecord()
        if record.outcome is not None:
            _notify(ctx, inv_id, status, T.GET_PROMISE_COMPLETION, cid, record.outcome)
        else:
            record.listeners.append(PromiseListener(invocation_id=inv_id, completion_id=cid))
            ctx.tables.put_promise(service, key, msg.key, record)

    return follow_up


def peek_promise(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.PeekPromiseCommandMessage)
    service, key = _workflow_key(status)
    cid = msg.result_completion_id

    def follow_up() -> None:
        record = ctx.tables.promise(service, key, msg.key)
        if record is None or record.outcome is None:
            frame = notification(T.PEEK_PROMISE_COMPLETION, completion_id=cid, void=True)
            lifecycle.notify(ctx, inv_id, status, frame, completion_id=cid)
        else:
            _notify(ctx, inv_id, status, T.PEEK_PROMISE_COMPLETION, cid, record.outcome)

    return follow_up


def complete_promise(ctx: ApplyContext, inv_id: bytes, status: InvocationStatus, msg: object) -> FollowUp:
    assert isinstance(msg, pb.CompletePromiseCommandMessage)
    service, key = _workflow_key(status)
    cid = msg.result_completion_id

    def follow_up() -> None:
        record = ctx.tables.promise(service, key, msg.key) or PromiseRecord()
        if record.outcome is not None:
            _notify(ctx, inv_id, status, T.COMPLETE_PROMISE_COMPLETION, cid, Outcome(failure=ALREADY_COMPLETED))
            return
        record.outcome = _outcome_of(msg)
        listeners, record.listeners = record.listeners, []
        ctx.tables.put_promise(service, key, msg.key, record)
        frame = notification(T.COMPLETE_PROMISE_COMPLETION, completion_id=cid, void=True)
        lifecycle.notify(ctx, inv_id, status, frame, completion_id=cid)
        for waiter in listeners:  # all on this partition: they share the workflow key
            waiter_status = ctx.status(waiter.invocation_id)
            if waiter_status is not None:
                waiter_cid = waiter.completion_id
                _notify(ctx, waiter.invocation_id, waiter_status, T.GET_PROMISE_COMPLETION, waiter_cid, record.outcome)

    return follow_up


def _notify(
    ctx: ApplyContext,
    inv_id: bytes,
    status: InvocationStatus,
    msg_type: int,
    cid: int,
    outcome: Outcome | OutcomeRecord,
) -> None:
    frame = lifecycle.result_notification(msg_type, outcome, completion_id=cid)
    lifecycle.notify(ctx, inv_id, status, frame, completion_id=cid, failed=outcome.failure is not None)
