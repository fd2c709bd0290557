"""The read-only view of a partition's shard: typed records out of a snapshot, a transaction or the store.

Everything that reads a partition's data goes through `PartitionView`: the state machine (as the read
half of `Tables`), the invoker when it starts an attempt, the SQL tables, the metrics and the recovery.
It decodes records (restate.storage.records) and takes keys apart with restate.storage.keys only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from restate.storage import codec, keys, status_summary
from restate.storage import records as r
from restate.storage.keys import KeyKind


class Reader(Protocol):
    """A consistent read view of a shard: storage.db.Snapshot, a Transaction, a Database."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]: ...


@dataclass(frozen=True, slots=True)
class KeyScope:
    """Which virtual-object / workflow keys a scan reads: None = all (services, object keys), or only
    services whose name starts with `service_prefix`."""

    services: frozenset[str] | None = None
    object_keys: frozenset[str] | None = None
    service_prefix: str | None = None


EVERY_KEY = KeyScope()


class PartitionView:
    """Typed reads; every read sees what the underlying reader sees (a transaction: its own writes too)."""

    __slots__ = ("reader",)

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    # --- invocations
    def status(self, invocation_id: bytes) -> r.InvocationStatus | None:
        raw = self.reader.get(keys.status_key(invocation_id))
        return None if raw is None else codec.decode_status(raw)

    def statuses(self, invocation_ids: Iterable[bytes] | None = None) -> Iterator[tuple[bytes, r.InvocationStatus]]:
        """(invocation id, status) of the given invocations that exist (in id order), or of all of them."""
        if invocation_ids is not None:
            for invocation_id in sorted(set(invocation_ids)):
                found = self.status(invocation_id)
                if found is not None:
                    yield invocation_id, found
            return
        for key, raw in self.reader.scan(KeyKind.STATUS.value):
            yield keys.invocation_of(key), codec.decode_status(raw)

    def status_summaries(
        self, invocation_ids: Iterable[bytes] | None = None
    ) -> Iterator[tuple[bytes, status_summary.StatusSummary]]:
        """Like `statuses`, with only the fields a scan filters and counts on decoded (much cheaper)."""
        decode = status_summary.decode
        if invocation_ids is not None:
            for invocation_id in sorted(set(invocation_ids)):
                raw = self.reader.get(keys.status_key(invocation_id))
                if raw is not None:
                    yield invocation_id, decode(raw)
            return
        for key, raw in self.reader.scan(KeyKind.STATUS.value):
            yield keys.invocation_of(key), decode(raw)

    def raw_statuses(self, invocation_ids: Iterable[bytes] | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(invocation id, the stored status's bytes): decode them with `status_summary.decode` for a cheap look
        and with `codec.decode_status` for the whole record (`statuses` and `status_summaries` do one each)."""
        if invocation_ids is not None:
            for invocation_id in sorted(set(invocation_ids)):
                raw = self.reader.get(keys.status_key(invocation_id))
                if raw is not None:
                    yield invocation_id, raw
            return
        for key, raw in self.reader.scan(KeyKind.STATUS.value):
            yield keys.invocation_of(key), raw

    def status_summary_values(self) -> Iterator[status_summary.StatusSummary]:
        """The summary of every status, in id order, without the ids (the cheapest full read)."""
        only_values = getattr(self.reader, "values", None)
        raw = only_values(KeyKind.STATUS.value) if only_values is not None else (
            value for _, value in self.reader.scan(KeyKind.STATUS.value))  # fmt: skip
        return map(status_summary.decode, raw)

    def status_keys(self) -> Iterator[bytes]:
        """The stored status keys (one per invocation), without reading the records when the reader can."""
        only_keys = getattr(self.reader, "keys", None)
        if only_keys is not None:
            yield from only_keys(KeyKind.STATUS.value)
        else:
            for key, _ in self.reader.scan(KeyKind.STATUS.value):
                yield key

    def live(self) -> Iterator[tuple[bytes, r.StatusName]]:
        """(invocation id, status name) of every invocation not completed."""
        for key, raw in self.reader.scan(KeyKind.LIVE.value):
            yield keys.invocation_of(key), codec.decode_live(raw).status

    def journal(self, invocation_id: bytes) -> Iterator[tuple[int, bytes]]:
        """(index, frame) of each stored journal entry, in order."""
        for key, frame in self.reader.scan(keys.journal_prefix(invocation_id)):
            yield keys.journal_index(key), frame

    def journal_frames(self, invocation_id: bytes) -> list[bytes]:
        return [frame for _, frame in self.reader.scan(keys.journal_prefix(invocation_id))]

    # --- user state
    def state_value(self, service: str, key: str, name: bytes) -> bytes | None:
        return self.reader.get(keys.state_key(service, key, name))

    def state(self, service: str, key: str) -> list[tuple[bytes, bytes]]:
        """Every (name, value) of one key, by name."""
        prefix = keys.service_key_prefix(KeyKind.STATE, service, key)
        return [(k[len(prefix) :], v) for k, v in self.reader.scan(prefix)]

    def state_names(self, service: str, key: str) -> list[bytes]:
        return [name for name, _ in self.state(service, key)]

    def state_entries(self, scope: KeyScope = EVERY_KEY) -> Iterator[tuple[str, str, bytes, bytes]]:
        """(service, key, name, value) of every state entry in scope."""
        yield from self._keyed(KeyKind.STATE, scope)

    # --- per-key lock and inbox
    def lock_holder(self, service: str, key: str) -> bytes | None:
        raw = self.reader.get(keys.lock_key(service, key))
        return None if raw is None else codec.decode_lock(raw).invocation_id

    def locks(self, scope: KeyScope = EVERY_KEY) -> Iterator[tuple[str, str, bytes]]:
        """(service, key, holder) of every locked key in scope."""
        for service, key, _, raw in self._keyed(KeyKind.LOCK, scope):
            yield service, key, codec.decode_lock(raw).invocation_id

    def first_in_inbox(self, service: str, key: str) -> tuple[int, r.InboxRecord] | None:
        """(sequence number, entry) of the next entry waiting for a key."""
        for k, raw in self.reader.scan(keys.service_key_prefix(KeyKind.INBOX, service, key)):
            return keys.inbox_seq(keys.split_keyed(k)[2]), codec.decode_inbox(raw)
        return None

    def inbox_entries(self, scope: KeyScope = EVERY_KEY) -> Iterator[tuple[str, str, int, r.InboxRecord]]:
        """(service, key, sequence number, entry) of every inbox entry in scope, in order per key."""
        for service, key, rest, raw in self._keyed(KeyKind.INBOX, scope):
            yield service, key, keys.inbox_seq(rest), codec.decode_inbox(raw)

    # --- workflow promises
    def promise(self, service: str, key: str, name: str) -> r.PromiseRecord | None:
        raw = self.reader.get(keys.promise_key(service, key, name))
        return None if raw is None else codec.decode_promise(raw)

    def promises(self, scope: KeyScope = EVERY_KEY) -> Iterator[tuple[str, str, bytes, r.PromiseRecord]]:
        """(service, key, promise name, record) of every promise in scope."""
        for service, key, name, raw in self._keyed(KeyKind.PROMISE, scope):
            yield service, key, name, codec.decode_promise(raw)

    # --- timers
    def timer_exists(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> bool:
        return self.reader.get(keys.timer_key(wake_up_ms, invocation_id, completion_id)) is not None

    def timers_due(self, until_ms: int) -> Iterator[tuple[int, bytes, int]]:
        """(wake-up time, invocation id, completion id) of the timers due at or before `until_ms`, in order."""
        start, stop = keys.timers_until(until_ms)
        for key, _ in self.reader.scan_range(start, stop):
            yield keys.parse_timer_key(key)

    # --- outbox, dedup, sequences, counts
    def outbox(self) -> Iterator[tuple[int, int, r.OutboxItem]]:
        """(destination, sequence number, message) of every message not acknowledged yet."""
        for key, raw in self.reader.scan(KeyKind.OUTBOX.value):
            destination, seq = keys.parse_outbox_key(key)
            yield destination, seq, codec.decode_outbox(raw).message

    def last_applied(self, source: int) -> int:
        raw = self.reader.get(keys.dedup_key(keys.dedup_producer(source)))
        return 0 if raw is None else codec.decode_dedup(raw).seq

    def ingested_until(self, producer: str) -> int:
        """The offset after the last Kafka record of `producer` turned into an invocation here (0: none)."""
        raw = self.reader.get(keys.dedup_key(keys.kafka_dedup_producer(producer)))
        return 0 if raw is None else codec.decode_dedup(raw).seq

    def sequence(self, name: str) -> int:
        """The last number a partition-wide sequence handed out (0: none yet)."""
        raw = self.reader.get(keys.fsm_key(name))
        return 0 if raw is None else codec.decode_sequence(raw).last

    def applied_lsn(self) -> int:
        """Cluster mode: the last entry of the replicated log applied to this shard (0: none)."""
        return self.sequence(keys.APPLIED_LSN)

    def queue_counts(self) -> r.QueueCountsRecord:
        raw = self.reader.get(keys.fsm_key(keys.QUEUE_COUNTS))
        return r.QueueCountsRecord(inbox=0, timers=0) if raw is None else codec.decode_queue_counts(raw)

    def store_format(self) -> int | None:
        raw = self.reader.get(keys.fsm_key(keys.FORMAT))
        return None if raw is None else codec.decode_store_format(raw).format

    # --- helpers
    def _keyed(self, kind: KeyKind, scope: KeyScope) -> Iterator[tuple[str, str, bytes, bytes]]:
        """(service, key, rest of the storage key, raw value), reading only the keys the scope names."""
        services, object_keys = scope.services, scope.object_keys
        if services is not None and object_keys is not None:
            prefixes = [keys.service_key_prefix(kind, s, k) for s in sorted(services) for k in sorted(object_keys)]
        elif services is not None:
            prefixes = [keys.service_prefix(kind, s) for s in sorted(services)]
        else:
            prefixes = [kind.value]
        for prefix in prefixes:
            for key, value in self.reader.scan(prefix):
                service, object_key, rest = keys.split_keyed(key)
                if object_keys is not None and object_key not in object_keys:
                    continue
                if scope.service_prefix is not None and not service.startswith(scope.service_prefix):
                    continue
                yield service, object_key, rest, value
