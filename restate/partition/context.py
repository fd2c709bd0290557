"""The per-command view handlers work with: tables, time, schema, and the actions collected so far."""

from __future__ import annotations

from restate import ids
from restate.partition.model import Action, ShipOutbox
from restate.partition.tables import Tables
from restate.schema import Schema
from restate.storage.partition_store import Transaction
from restate.wire import OutboxMessage


class ApplyContext:
    __slots__ = ("tables", "now_ms", "schema", "partition_id", "num_partitions", "protocol_v7", "actions")

    def __init__(
        self,
        txn: Transaction,
        now_ms: int,
        schema: Schema,
        partition_id: int,
        num_partitions: int,
        protocol_v7: bool,
    ) -> None:
        self.tables = Tables(txn)
        self.now_ms = now_ms
        self.schema = schema
        self.partition_id = partition_id
        self.num_partitions = num_partitions
        self.protocol_v7 = protocol_v7
        self.actions: list[Action] = []

    def partition_of(self, invocation_id: bytes) -> int:
        pk = ids.InvocationId.from_bytes(invocation_id).partition_key
        return ids.partition_for(pk, self.num_partitions)

    def send(self, invocation_id: bytes, message: OutboxMessage) -> None:
        """Writes a message for the partition owning `invocation_id` into the outbox (shipped after commit)."""
        destination = self.partition_of(invocation_id)
        seq = self.tables.add_outbox(destination, message)
        self.actions.append(ShipOutbox(destination, seq, message))
