"""The key-prefix registry and key encodings."""

from __future__ import annotations

from pathlib import Path

from restate.storage import keys
from restate.storage.keys import RETIRED, KeyKind
from restate.storage.partition_store import PartitionStore

INV_A = bytes(range(24))
INV_B = bytes(range(1, 25))


def test_prefixes_are_unique_two_bytes_and_not_retired() -> None:
    values = [k.value for k in KeyKind]
    assert len(values) == len(set(values))
    assert all(len(v) == 2 for v in values)  # equal length: no prefix is a prefix of another
    assert not set(values) & set(RETIRED)


def test_each_key_builder_uses_its_own_prefix() -> None:
    assert keys.fsm_key("x").startswith(KeyKind.FSM.value)
    assert keys.dedup_key("p1").startswith(KeyKind.DEDUP.value)
    assert keys.status_key(INV_A) == KeyKind.STATUS.value + INV_A
    assert keys.journal_key(INV_A, 3).startswith(keys.journal_prefix(INV_A))
    assert keys.journal_prefix(INV_A).startswith(KeyKind.JOURNAL.value)
    assert keys.state_key("S", "k", b"n").startswith(keys.service_key_prefix(KeyKind.STATE, "S", "k"))
    assert keys.lock_key("S", "k").startswith(KeyKind.LOCK.value)
    assert keys.inbox_key("S", "k", 1).startswith(keys.service_key_prefix(KeyKind.INBOX, "S", "k"))
    assert keys.timer_key(1, INV_A, 2).startswith(KeyKind.TIMERS.value)
    assert keys.outbox_key(1, 2).startswith(KeyKind.OUTBOX.value)
    assert keys.meta_key("schema").startswith(KeyKind.META.value)


def test_integers_are_big_endian() -> None:
    assert keys.u32(1) == b"\x00\x00\x00\x01"
    assert keys.u64(256) == b"\x00" * 6 + b"\x01\x00"
    assert keys.read_u32(keys.u32(0xDEADBEEF)) == 0xDEADBEEF
    assert keys.read_u64(b"xx" + keys.u64(2**63 + 5), 2) == 2**63 + 5


def test_length_prefixed_components_never_collide() -> None:
    # ("ab", "c") and ("a", "bc") concatenate to the same text without the length prefix
    assert keys.service_key_prefix(KeyKind.STATE, "ab", "c") != keys.service_key_prefix(KeyKind.STATE, "a", "bc")
    # a key is never a prefix of a longer key of the same service
    assert not keys.service_key_prefix(KeyKind.STATE, "S", "ab").startswith(
        keys.service_key_prefix(KeyKind.STATE, "S", "a")
    )
    assert keys.lp("é") == b"\x00\x00\x00\x02" + "é".encode()


def test_timer_and_outbox_keys_round_trip() -> None:
    assert keys.parse_timer_key(keys.timer_key(1_700_000_000_123, INV_A, 0xFFFFFFFF)) == (
        1_700_000_000_123,
        INV_A,
        0xFFFFFFFF,
    )
    assert keys.parse_outbox_key(keys.outbox_key(3, 2**40)) == (3, 2**40)


def _stored_order(tmp_path: Path, items: list[bytes], prefix: bytes) -> list[bytes]:
    store = PartitionStore(tmp_path / "db")
    try:
        txn = store.transaction()
        for key in reversed(items):
            txn.put(key, b"")
        txn.commit()
        return [k for k, _ in store.scan(prefix)]
    finally:
        store.close()


def test_timers_sort_by_wake_up_time_in_leveldb(tmp_path: Path) -> None:
    times = [0, 1, 255, 256, 65_535, 65_536, 1_700_000_000_000, 2**63]
    ordered = [keys.timer_key(t, INV_B if t % 2 else INV_A, 7) for t in times]
    got = _stored_order(tmp_path, ordered, KeyKind.TIMERS.value)
    assert [keys.parse_timer_key(k)[0] for k in got] == times


def test_timers_with_equal_time_sort_by_invocation_then_completion(tmp_path: Path) -> None:
    ordered = [keys.timer_key(5, INV_A, 1), keys.timer_key(5, INV_A, 256), keys.timer_key(5, INV_B, 0)]
    assert _stored_order(tmp_path, ordered, KeyKind.TIMERS.value) == ordered


def test_journal_entries_sort_by_index_in_leveldb(tmp_path: Path) -> None:
    indexes = [0, 1, 2, 9, 10, 255, 256, 1000, 65_536]
    ordered = [keys.journal_key(INV_A, i) for i in indexes]
    other = [keys.journal_key(INV_B, i) for i in indexes]
    store_keys = _stored_order(tmp_path, ordered + other, keys.journal_prefix(INV_A))
    assert store_keys == ordered  # and the other invocation's entries are not under this prefix


def test_inbox_and_outbox_sort_by_sequence(tmp_path: Path) -> None:
    inbox = [keys.inbox_key("Counter", "k", s) for s in (1, 2, 255, 256, 2**33)]
    assert _stored_order(tmp_path / "a", inbox, keys.service_key_prefix(KeyKind.INBOX, "Counter", "k")) == inbox
    outbox = [keys.outbox_key(d, s) for d in (0, 1, 300) for s in (1, 256, 70_000)]
    assert _stored_order(tmp_path / "b", outbox, KeyKind.OUTBOX.value) == outbox


def test_keys_are_taken_apart_only_here() -> None:
    assert keys.invocation_of(keys.status_key(INV_A)) == INV_A == keys.invocation_of(keys.live_key(INV_A))
    assert keys.journal_index(keys.journal_key(INV_A, 70_000)) == 70_000
    assert keys.split_keyed(keys.state_key("Svc", "kéy", b"name")) == ("Svc", "kéy", b"name")
    service, key, rest = keys.split_keyed(keys.inbox_key("Svc", "k", 2**40))
    assert (service, key, keys.inbox_seq(rest)) == ("Svc", "k", 2**40)
    assert keys.split_keyed(keys.lock_key("S", "")) == ("S", "", b"")
    assert keys.fsm_name(keys.fsm_key(keys.outbox_seq_name(3))) == "outbox/3"
    assert keys.is_outbox_seq_name(keys.outbox_seq_name(3)) and not keys.is_outbox_seq_name(keys.INBOX_SEQ)
    assert keys.kind_of(keys.timer_key(1, INV_A, 2)) == KeyKind.TIMERS.value
    start, stop = keys.timers_until(100)
    assert start <= keys.timer_key(100, INV_B, 0xFFFFFFFF) < stop <= keys.timer_key(101, INV_A, 0)
