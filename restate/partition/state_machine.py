"""The partition state machine: apply_entry(txn, entry) -> actions.

Deterministic: it reads and writes the store only through the given transaction and takes the clock,
the schema version and the partition layout from the log entry; it draws no random numbers.
Its only I/O is the transaction's reads: a key the entry has not written yet is read from LevelDB (a
`get` or an iterator on the shard). Writes stay in the transaction until the caller commits it with one
fsync (restate.actors.partition); the actions it returns are executed after that commit, by the caller."""

from __future__ import annotations

from restate import ids
from restate.partition import client_requests, deployment_commands, ingest
from restate.partition.actions import AckOutbox, Action
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import (
    AttemptFailedCmd,
    Command,
    EndCmd,
    IngestCmd,
    InvokeCmd,
    LogEntry,
    OutboxAckCmd,
    OutboxCmd,
    RequestCmd,
    SdkMessageCmd,
    SuspendedCmd,
    TimerFiredCmd,
)
from restate.partition.lifecycle import (
    on_attempt_failed,
    on_end,
    on_invoke,
    on_suspended,
    on_timer,
    receive_outbox,
)
from restate.schema import Schema
from restate.storage.partition_store import Transaction


class EntryMismatch(ValueError):
    """A log entry that does not belong here: another partition, partition count or schema version."""


class CommandFailed(Exception):
    """The command at `position` of an entry raised (a bug); the transaction holds its partial writes."""

    def __init__(self, position: int, command: Command) -> None:
        super().__init__(f"command {position} ({type(command).__name__}) failed to apply")
        self.position = position
        self.command = command


class StateMachine:
    """Applies the log entries of one partition; every storage change goes through the given transaction.
    `protocol_v7` is the setting the entries it builds carry: applying follows the entry's."""

    def __init__(self, partition_id: int, num_partitions: int, protocol_v7: bool = False) -> None:
        self.partition_id = partition_id
        self.num_partitions = num_partitions
        self.protocol_v7 = protocol_v7

    def entry(self, commands: list[Command], now_ms: int, schema_version: int) -> LogEntry:
        """The log entry of a batch about to be applied here, read at `now_ms` with that schema."""
        return LogEntry(self.partition_id, self.num_partitions, now_ms, schema_version, self.protocol_v7, commands)

    def apply_entry(self, txn: Transaction, entry: LogEntry, schema: Schema) -> list[Action]:
        """Applies every command of the entry in order; `schema` must be the version the entry names.
        Raises CommandFailed when one raises: the caller drops the transaction."""
        self._check(entry, schema)
        # One context for the whole entry: each status is read once and written once per entry.
        ctx = ApplyContext(txn, entry.now_ms, schema, self.partition_id, self.num_partitions, entry.protocol_v7)
        for position, command in enumerate(entry.commands):
            try:
                _dispatch(ctx, command)
            except Exception as exc:
                raise CommandFailed(position, command) from exc
        ctx.write_statuses()
        return ctx.actions

    def _check(self, entry: LogEntry, schema: Schema) -> None:
        if (entry.partition, entry.num_partitions) != (self.partition_id, self.num_partitions):
            raise EntryMismatch(
                f"entry of partition {entry.partition}/{entry.num_partitions} applied to "
                f"partition {self.partition_id}/{self.num_partitions}"
            )
        if entry.schema_version != schema.version:
            raise EntryMismatch(f"entry needs schema version {entry.schema_version}, got {schema.version}")

    def owns(self, invocation_id: bytes) -> bool:
        pk = ids.InvocationId.from_bytes(invocation_id).partition_key
        return ids.partition_for(pk, self.num_partitions) == self.partition_id


def _dispatch(ctx: ApplyContext, command: Command) -> None:
    match command:
        case InvokeCmd():
            on_invoke(ctx, command.request, command.sink, command.send)
        case IngestCmd():
            ingest.on_ingest(ctx, command)
        case RequestCmd():
            client_requests.on_request(ctx, command)
        case SdkMessageCmd():
            deployment_commands.on_sdk_message(ctx, command)
        case SuspendedCmd():
            on_suspended(ctx, command.invocation_id, command.attempt, command.awaiting)
        case EndCmd():
            on_end(ctx, command.invocation_id, command.attempt)
        case AttemptFailedCmd():
            on_attempt_failed(ctx, command)
        case TimerFiredCmd():
            on_timer(ctx, command.wake_up_ms, command.invocation_id, command.completion_id)
        case OutboxCmd():
            if receive_outbox(ctx, command.source, command.seq, command.message):
                ctx.actions.append(AckOutbox(command.source, command.seq))
        case OutboxAckCmd():
            ctx.tables.delete_outbox(command.destination, command.seq)
