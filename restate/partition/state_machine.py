"""The partition state machine: apply(txn, command) -> actions. Pure: no I/O, no clock, no randomness."""

from __future__ import annotations

from restate import ids
from restate.partition import journal, requests
from restate.partition.commands import (
    AttemptFailedCmd,
    Command,
    EndCmd,
    InvokeCmd,
    OutboxAckCmd,
    OutboxCmd,
    RequestCmd,
    SdkMessageCmd,
    SuspendedCmd,
    TimerFiredCmd,
)
from restate.partition.context import ApplyContext
from restate.partition.lifecycle import (
    complete,
    current_attempt,
    on_attempt_failed,
    on_invoke,
    on_suspended,
    on_timer,
    receive_outbox,
)
from restate.partition.model import AckOutbox, Action
from restate.schema import Schema
from restate.storage.partition_store import Transaction


class StateMachine:
    """Applies commands of one partition; every storage change goes through the given transaction."""

    def __init__(self, partition_id: int, num_partitions: int, protocol_v7: bool = False) -> None:
        self.partition_id = partition_id
        self.num_partitions = num_partitions
        self.protocol_v7 = protocol_v7

    def apply(self, txn: Transaction, command: Command, now_ms: int, schema: Schema) -> list[Action]:
        ctx = ApplyContext(txn, now_ms, schema, self.partition_id, self.num_partitions, self.protocol_v7)
        _dispatch(ctx, command)
        return ctx.actions

    def owns(self, invocation_id: bytes) -> bool:
        pk = ids.InvocationId.from_bytes(invocation_id).partition_key
        return ids.partition_for(pk, self.num_partitions) == self.partition_id


def _dispatch(ctx: ApplyContext, command: Command) -> None:
    match command:
        case InvokeCmd():
            on_invoke(ctx, command.request, command.sink, command.send)
        case RequestCmd():
            requests.on_request(ctx, command)
        case SdkMessageCmd():
            journal.on_sdk_message(ctx, command)
        case SuspendedCmd():
            on_suspended(ctx, command.invocation_id, command.attempt, command.awaiting)
        case EndCmd():
            status = ctx.tables.status(command.invocation_id)
            if status is not None and current_attempt(status, command.attempt):
                outcome = status.pending_output or journal.empty_outcome()
                complete(ctx, command.invocation_id, status, outcome)
        case AttemptFailedCmd():
            on_attempt_failed(ctx, command)
        case TimerFiredCmd():
            on_timer(ctx, command.wake_up_ms, command.invocation_id, command.completion_id)
        case OutboxCmd():
            if receive_outbox(ctx, command.source, command.seq, command.message):
                ctx.actions.append(AckOutbox(command.source, command.seq))
        case OutboxAckCmd():
            ctx.tables.delete_outbox(command.destination, command.seq)
