"""Typed access to the partition's tables through a transaction: the state machine's only view of storage."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from restate.partition.model import COMPLETED, InvocationStatus, PromiseRecord, StateMutation
from restate.storage import keys
from restate.storage.partition_store import Transaction
from restate.wire import OutboxMessage

_status_encoder = msgspec.msgpack.Encoder()
_status_decoder = msgspec.msgpack.Decoder(InvocationStatus)
_promise_decoder = msgspec.msgpack.Decoder(PromiseRecord)
_mutation_decoder = msgspec.msgpack.Decoder(StateMutation)
# Inbox values are tagged: an invocation id, or a queued state replacement (ids are arbitrary bytes).
_INVOCATION_TAG = b"I"
_MUTATION_TAG = b"M"
LIVE_INDEX_MARKER = "live-index"  # FSM entry: the shard keeps KeyKind.LIVE up to date
_outbox_decoder: msgspec.msgpack.Decoder[OutboxMessage] = msgspec.msgpack.Decoder(OutboxMessage)  # type: ignore[arg-type]


class Tables:
    """Wraps one transaction; every read sees the writes made earlier in the same batch."""

    __slots__ = ("txn",)

    def __init__(self, txn: Transaction) -> None:
        self.txn = txn

    # --- invocation status
    def status(self, invocation_id: bytes) -> InvocationStatus | None:
        raw = self.txn.get(keys.status_key(invocation_id))
        return None if raw is None else _status_decoder.decode(raw)

    def put_status(self, invocation_id: bytes, status: InvocationStatus) -> None:
        self.txn.put(keys.status_key(invocation_id), _status_encoder.encode(status))
        # The live index: recovery resumes from it without reading the completed invocations kept
        # for their retention (there are many more of those).
        if status.status == COMPLETED:
            self.txn.delete(keys.live_key(invocation_id))
        else:
            self.txn.put(keys.live_key(invocation_id), status.status.encode())

    def delete_status(self, invocation_id: bytes) -> None:
        self.txn.delete(keys.status_key(invocation_id))
        self.txn.delete(keys.live_key(invocation_id))

    def ensure_live_index(self) -> bool:
        """Builds the live index from every status when the shard predates it; True when it did."""
        marker = keys.fsm_key(LIVE_INDEX_MARKER)
        if self.txn.get(marker) is not None:
            return False
        prefix_len = len(keys.KeyKind.STATUS.value)
        for key, raw in self.txn.scan(keys.KeyKind.STATUS.value):
            status = _status_decoder.decode(raw)
            if status.status != COMPLETED:
                self.txn.put(keys.live_key(bytes(key[prefix_len:])), status.status.encode())
        self.txn.put(marker, b"1")
        return True

    def live(self) -> Iterator[tuple[bytes, str]]:
        """(invocation id, status) of every invocation not completed."""
        prefix_len = len(keys.KeyKind.LIVE.value)
        for key, status in self.txn.scan(keys.KeyKind.LIVE.value):
            yield bytes(key[prefix_len:]), status.decode()

    # --- journal: raw frames, header included (flags cleared), replayed byte for byte
    def append_entry(self, invocation_id: bytes, status: InvocationStatus, frame: bytes, now_ms: int) -> int:
        index = status.journal_len
        self.txn.put(keys.journal_key(invocation_id, index), frame)
        status.journal_len = index + 1
        status.last_entry_at_ms = now_ms
        return index

    def delete_journal(self, invocation_id: bytes) -> None:
        self.txn.delete_prefix(keys.journal_prefix(invocation_id))

    # --- user state
    def get_state(self, service: str, key: str, name: bytes) -> bytes | None:
        return self.txn.get(keys.state_key(service, key, name))

    def set_state(self, service: str, key: str, name: bytes, value: bytes) -> None:
        self.txn.put(keys.state_key(service, key, name), value)

    def clear_state(self, service: str, key: str, name: bytes) -> None:
        self.txn.delete(keys.state_key(service, key, name))

    def clear_all_state(self, service: str, key: str) -> None:
        self.txn.delete_prefix(keys.service_key_prefix(keys.KeyKind.STATE, service, key))

    def state_keys(self, service: str, key: str) -> list[bytes]:
        prefix = keys.service_key_prefix(keys.KeyKind.STATE, service, key)
        return [k[len(prefix) :] for k, _ in self.txn.scan(prefix)]

    # --- per-key lock and inbox
    def lock_holder(self, service: str, key: str) -> bytes | None:
        return self.txn.get(keys.lock_key(service, key))

    def lock(self, service: str, key: str, invocation_id: bytes) -> None:
        self.txn.put(keys.lock_key(service, key), invocation_id)

    def unlock(self, service: str, key: str) -> None:
        self.txn.delete(keys.lock_key(service, key))

    def enqueue_inbox(self, service: str, key: str, invocation_id: bytes) -> int:
        seq = self.next_seq("inbox")
        self.txn.put(keys.inbox_key(service, key, seq), _INVOCATION_TAG + invocation_id)
        return seq

    def enqueue_mutation(self, service: str, key: str, mutation: StateMutation) -> None:
        seq = self.next_seq("inbox")
        self.txn.put(keys.inbox_key(service, key, seq), _MUTATION_TAG + _status_encoder.encode(mutation))

    def pop_inbox(self, service: str, key: str) -> bytes | StateMutation | None:
        """The next entry waiting for a key: an invocation id, or a queued state replacement."""
        item = self.txn.first(keys.service_key_prefix(keys.KeyKind.INBOX, service, key))
        if item is None:
            return None
        self.txn.delete(item[0])
        tag, value = item[1][:1], item[1][1:]
        if tag == _MUTATION_TAG:
            return _mutation_decoder.decode(value)
        return value

    # --- workflow promises
    def promise(self, service: str, key: str, name: str) -> PromiseRecord | None:
        raw = self.txn.get(keys.promise_key(service, key, name))
        return None if raw is None else _promise_decoder.decode(raw)

    def put_promise(self, service: str, key: str, name: str, record: PromiseRecord) -> None:
        self.txn.put(keys.promise_key(service, key, name), _status_encoder.encode(record))

    def clear_promises(self, service: str, key: str) -> None:
        self.txn.delete_prefix(keys.service_key_prefix(keys.KeyKind.PROMISE, service, key))

    def state_items(self, service: str, key: str) -> list[tuple[bytes, bytes]]:
        prefix = keys.service_key_prefix(keys.KeyKind.STATE, service, key)
        return [(k[len(prefix) :], v) for k, v in self.txn.scan(prefix)]

    def remove_from_inbox(self, service: str, key: str, seq: int) -> None:
        self.txn.delete(keys.inbox_key(service, key, seq))

    # --- timers
    def add_timer(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> None:
        self.txn.put(keys.timer_key(wake_up_ms, invocation_id, completion_id), b"")

    def timer_exists(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> bool:
        return self.txn.get(keys.timer_key(wake_up_ms, invocation_id, completion_id)) is not None

    def delete_timer(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> None:
        self.txn.delete(keys.timer_key(wake_up_ms, invocation_id, completion_id))

    # --- outbox and dedup
    def add_outbox(self, destination: int, message: OutboxMessage) -> int:
        seq = self.next_seq(f"outbox/{destination}")
        self.txn.put(keys.outbox_key(destination, seq), _status_encoder.encode(message))
        return seq

    def delete_outbox(self, destination: int, seq: int) -> None:
        self.txn.delete(keys.outbox_key(destination, seq))

    def outbox(self) -> Iterator[tuple[int, int, OutboxMessage]]:
        for key, value in self.txn.scan(keys.KeyKind.OUTBOX.value):
            destination, seq = keys.parse_outbox_key(key)
            yield destination, seq, _outbox_decoder.decode(value)

    def last_applied(self, source: int) -> int:
        raw = self.txn.get(keys.dedup_key(f"p{source}"))
        return 0 if raw is None else keys.read_u64(raw)

    def set_last_applied(self, source: int, seq: int) -> None:
        self.txn.put(keys.dedup_key(f"p{source}"), keys.u64(seq))

    def next_seq(self, name: str) -> int:
        """Allocates the next number of a partition-wide counter (starting at 1)."""
        key = keys.fsm_key(name)
        raw = self.txn.get(key)
        seq = 1 if raw is None else keys.read_u64(raw) + 1
        self.txn.put(key, keys.u64(seq))
        return seq
