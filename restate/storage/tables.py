"""Typed writes to a partition's shard through one transaction: the state machine's access to storage.

`Tables` is the read-only view (restate.storage.view) over the transaction plus the writes; every read
sees the writes made earlier in the same batch. It keeps the store's own bookkeeping with the data it
describes: the live index with each status, and the inbox / timer counts at the end of each batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from restate.storage import codec, keys
from restate.storage import records as r
from restate.storage.keys import KeyKind
from restate.storage.partition_store import Transaction
from restate.storage.view import PartitionView

_STATUS, _JOURNAL, _INBOX, _TIMERS = (
    KeyKind.STATUS.value,
    KeyKind.JOURNAL.value,
    KeyKind.INBOX.value,
    KeyKind.TIMERS.value,
)
_QUEUE_COUNTS = keys.fsm_key(keys.QUEUE_COUNTS)


class _StateOnly(msgspec.Struct, tag=r.InvocationStatus.__struct_config__.tag, tag_field="v", rename=r.STATUS_TAGS):
    """The state of a stored status, the other fields skipped (the metrics need no more)."""

    state: r.InvocationState


_decode_state = msgspec.msgpack.Decoder(_StateOnly).decode


@dataclass(slots=True)
class StatusChange:
    """One status written by a batch: its new status name (None: deleted) and, for a completed one,
    whether its outcome is a failure."""

    invocation_id: bytes
    status: r.StatusName | None
    failed: bool = False


@dataclass(slots=True)
class BatchChanges:
    """What a batch changed, for the metrics (restate.actors.partition_stats)."""

    statuses: list[StatusChange] = field(default_factory=list)
    journal_entries: int = 0
    inbox: int | None = None  # inbox entries the shard holds after the batch (None: unchanged)
    timers: int | None = None  # timers the shard holds after the batch (None: unchanged)


class Tables(PartitionView):
    """Wraps one transaction."""

    __slots__ = ("txn",)

    def __init__(self, txn: Transaction) -> None:
        self.reader = txn  # PartitionView's reader, set here: one object per log entry, on the hot path
        self.txn = txn

    # --- invocation status
    def put_status(self, invocation_id: bytes, status: r.InvocationStatus, stored: type | None = None) -> None:
        """Writes a status; `stored` is the state type it had in the store (None: unknown or new), so that
        the live index is only rewritten when the status name changes."""
        self.txn.put(keys.status_key(invocation_id), codec.encode(status))
        # The live index: recovery resumes from it without reading the completed invocations kept
        # for their retention (there are many more of those).
        live = _LIVE_VALUES[type(status.state)]
        if stored is not None and _LIVE_VALUES[stored] == live:
            return
        if live is None:
            self.txn.delete(keys.live_key(invocation_id))
        else:
            self.txn.put(keys.live_key(invocation_id), live)

    def delete_status(self, invocation_id: bytes) -> None:
        self.txn.delete(keys.status_key(invocation_id))
        self.txn.delete(keys.live_key(invocation_id))

    # --- journal: raw protocol frames, header included (flags cleared), replayed byte for byte
    def put_entry(self, invocation_id: bytes, index: int, frame: bytes) -> None:
        self.txn.put(keys.journal_key(invocation_id, index), frame)

    def delete_journal(self, invocation_id: bytes) -> None:
        self.txn.delete_prefix(keys.journal_prefix(invocation_id))

    # --- user state: raw values
    def set_state(self, service: str, key: str, name: bytes, value: bytes) -> None:
        self.txn.put(keys.state_key(service, key, name), value)

    def clear_state(self, service: str, key: str, name: bytes) -> None:
        self.txn.delete(keys.state_key(service, key, name))

    def clear_all_state(self, service: str, key: str) -> None:
        self.txn.delete_prefix(keys.service_key_prefix(KeyKind.STATE, service, key))

    # --- per-key lock and inbox
    def lock(self, service: str, key: str, invocation_id: bytes) -> None:
        self.txn.put(keys.lock_key(service, key), codec.encode(r.LockRecord(invocation_id=invocation_id)))

    def unlock(self, service: str, key: str) -> None:
        self.txn.delete(keys.lock_key(service, key))

    def enqueue(self, service: str, key: str, item: r.QueuedInvocation | r.QueuedStateReplacement) -> int:
        """Appends to a key's inbox; returns the entry's sequence number."""
        seq = self._next(keys.INBOX_SEQ)
        self.txn.put(keys.inbox_key(service, key, seq), codec.encode(r.InboxRecord(item=item)))
        return seq

    def pop_inbox(self, service: str, key: str) -> r.QueuedInvocation | r.QueuedStateReplacement | None:
        """Takes the next entry waiting for a key."""
        found = self.first_in_inbox(service, key)
        if found is None:
            return None
        seq, record = found
        self.txn.delete(keys.inbox_key(service, key, seq))
        return record.item

    def remove_from_inbox(self, service: str, key: str, seq: int) -> None:
        self.txn.delete(keys.inbox_key(service, key, seq))

    # --- workflow promises
    def put_promise(self, service: str, key: str, name: str, record: r.PromiseRecord) -> None:
        self.txn.put(keys.promise_key(service, key, name), codec.encode(record))

    def clear_promises(self, service: str, key: str) -> None:
        self.txn.delete_prefix(keys.service_key_prefix(KeyKind.PROMISE, service, key))

    # --- timers
    def add_timer(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> None:
        self.txn.put(keys.timer_key(wake_up_ms, invocation_id, completion_id), codec.TIMER_VALUE)

    def delete_timer(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> None:
        self.txn.delete(keys.timer_key(wake_up_ms, invocation_id, completion_id))

    # --- outbox and dedup
    def add_outbox(self, destination: int, message: r.OutboxItem) -> int:
        seq = self._next(keys.outbox_seq_name(destination))
        self.txn.put(keys.outbox_key(destination, seq), codec.encode(r.OutboxRecord(message=message)))
        return seq

    def delete_outbox(self, destination: int, seq: int) -> None:
        self.txn.delete(keys.outbox_key(destination, seq))

    def set_last_applied(self, source: int, seq: int) -> None:
        self.txn.put(keys.dedup_key(keys.dedup_producer(source)), codec.encode(r.DedupRecord(seq=seq)))

    def set_applied_lsn(self, lsn: int) -> None:
        """Cluster mode: the replicated log's entry this batch is (written with its effects, one commit)."""
        self.txn.put(keys.fsm_key(keys.APPLIED_LSN), codec.encode(r.SequenceRecord(last=lsn)))

    def set_ingested_until(self, producer: str, next_offset: int) -> None:
        self.txn.put(keys.dedup_key(keys.kafka_dedup_producer(producer)), codec.encode(r.DedupRecord(seq=next_offset)))

    def _next(self, name: str) -> int:
        """Hands out the next number of a partition-wide sequence (starting at 1)."""
        seq = self.sequence(name) + 1
        self.txn.put(keys.fsm_key(name), codec.encode(r.SequenceRecord(last=seq)))
        return seq

    # --- the end of a batch
    def close_batch(self) -> BatchChanges:
        """Summarises the batch's writes and stores the inbox / timer counts they changed; call it once,
        after the last command of the batch and before the commit."""
        changes = BatchChanges()
        inbox = timers = 0
        for key, value in self.txn.writes.items():
            kind = key[: keys.KIND_LEN]
            if kind == _STATUS:
                changes.statuses.append(_status_change(key, value))
            elif kind == _JOURNAL:
                changes.journal_entries += value is not None
            elif kind == _INBOX:
                inbox += self._delta(key, value)
            elif kind == _TIMERS:
                timers += self._delta(key, value)
        if inbox or timers:
            counts = self.queue_counts()
            new = r.QueueCountsRecord(inbox=max(0, counts.inbox + inbox), timers=max(0, counts.timers + timers))
            self.txn.put(_QUEUE_COUNTS, codec.encode(new))
            changes.inbox, changes.timers = new.inbox, new.timers
        return changes

    def _delta(self, key: bytes, value: bytes | None) -> int:
        """+1 for a row this batch creates, -1 for one it deletes, 0 otherwise."""
        existed = self.txn.committed(key) is not None
        if value is None:
            return -1 if existed else 0
        return 0 if existed else 1


def _status_change(key: bytes, value: bytes | None) -> StatusChange:
    invocation_id = keys.invocation_of(key)
    if value is None:
        return StatusChange(invocation_id, None)
    state = _decode_state(value).state
    failed = isinstance(state, r.Completed) and state.outcome.failure is not None
    return StatusChange(invocation_id, r.status_name(state), failed)


#: The live index's value for each state (None: completed, not in the index).
_LIVE_VALUES: dict[type, bytes | None] = {
    state: None if name == "completed" else codec.encode(r.LiveRecord(status=name))
    for state, name in r.STATUS_NAMES.items()
}
