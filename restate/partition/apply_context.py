"""What the commands of one log entry work with: tables, time, schema, the statuses changed, the actions so far."""

from __future__ import annotations

from restate import ids
from restate.partition import convert
from restate.partition.actions import Action, ShipOutbox
from restate.schema import Schema
from restate.storage.partition_store import Transaction
from restate.storage.records import InvocationStatus
from restate.storage.tables import Tables
from restate.wire import OutboxMessage

_UNREAD = object()


class ApplyContext:
    """The apply of one log entry (a batch of commands). Statuses are read once (`status`) and written once,
    when the entry is applied (`write_statuses`): handlers change them only through
    restate.partition.transitions, which marks them; later commands of the entry see those changes."""

    __slots__ = (
        "tables", "now_ms", "schema", "partition_id", "num_partitions", "protocol_v7", "actions", "_statuses",
        "_stored", "_changed",
    )  # fmt: skip

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
        self._statuses: dict[bytes, InvocationStatus | None] = {}  # read or changed by this entry's commands
        self._stored: dict[bytes, type] = {}  # the state type each status read had in the store
        self._changed: dict[bytes, None] = {}  # in the order they changed

    # --- invocation statuses (the unit of work)
    def status(self, invocation_id: bytes) -> InvocationStatus | None:
        """The invocation's status as the entry left it so far (the same object on every call)."""
        found = self._statuses.get(invocation_id, _UNREAD)
        if found is _UNREAD:
            found = self._statuses[invocation_id] = self.tables.status(invocation_id)
            if found is not None:
                self._stored[invocation_id] = type(found.state)
        return found  # type: ignore[return-value]

    def changed(self, invocation_id: bytes, status: InvocationStatus | None) -> None:
        """Marks a status to be written (None: deleted) when the entry is applied; for transitions only."""
        self._statuses[invocation_id] = status
        self._changed[invocation_id] = None

    def write_statuses(self) -> None:
        """Writes every status the entry changed, once each."""
        for invocation_id in self._changed:
            status = self._statuses[invocation_id]
            if status is None:
                self.tables.delete_status(invocation_id)
            else:
                self.tables.put_status(invocation_id, status, self._stored.get(invocation_id))
        self._changed.clear()

    # --- the outbox
    def partition_of(self, invocation_id: bytes) -> int:
        pk = ids.InvocationId.from_bytes(invocation_id).partition_key
        return ids.partition_for(pk, self.num_partitions)

    def send(self, invocation_id: bytes, message: OutboxMessage) -> None:
        """Writes a message for the partition owning `invocation_id` into the outbox (shipped after commit)."""
        destination = self.partition_of(invocation_id)
        seq = self.tables.add_outbox(destination, convert.outbox_item(message))
        self.actions.append(ShipOutbox(destination, seq, message))
