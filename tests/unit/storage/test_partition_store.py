"""The transaction overlay: read-your-writes, merged scans, prefix deletes, atomic commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.storage.db import Database
from restate.storage.partition_store import PartitionStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    s = PartitionStore(tmp_path / "p0")
    yield s
    s.close()


def _seed(store: PartitionStore, items: dict[bytes, bytes]) -> None:
    txn = store.transaction()
    for k, v in items.items():
        txn.put(k, v)
    txn.commit()


def test_read_your_writes_before_commit(store: PartitionStore) -> None:
    _seed(store, {b"a": b"1", b"b": b"2"})
    txn = store.transaction()
    assert txn.is_empty
    txn.put(b"a", b"10")
    txn.put(b"c", b"3")
    txn.delete(b"b")
    assert not txn.is_empty
    assert txn.get(b"a") == b"10"
    assert txn.get(b"b") is None
    assert txn.get(b"c") == b"3"
    assert txn.get(b"zz") is None
    # nothing reached the store yet
    assert store.get(b"a") == b"1" and store.get(b"b") == b"2" and store.get(b"c") is None
    # an empty value is a value, not a delete
    txn.put(b"e", b"")
    assert txn.get(b"e") == b""


def test_scan_merges_pending_writes_in_key_order(store: PartitionStore) -> None:
    _seed(store, {b"pa": b"1", b"pc": b"3", b"pe": b"5", b"q": b"x"})
    txn = store.transaction()
    txn.put(b"pb", b"2")
    txn.put(b"pe", b"50")
    txn.delete(b"pc")
    txn.put(b"qq", b"other prefix")
    assert list(txn.scan(b"p")) == [(b"pa", b"1"), (b"pb", b"2"), (b"pe", b"50")]
    assert txn.first(b"p") == (b"pa", b"1")
    txn.delete(b"pa")
    assert txn.first(b"p") == (b"pb", b"2")
    assert txn.first(b"nothing") is None
    # without pending writes under the prefix it reads the store directly
    assert list(txn.scan(b"q")) == [(b"q", b"x"), (b"qq", b"other prefix")]
    assert list(store.transaction().scan(b"p")) == [(b"pa", b"1"), (b"pc", b"3"), (b"pe", b"5")]


def test_delete_prefix_covers_stored_and_pending_keys(store: PartitionStore) -> None:
    _seed(store, {b"jo1": b"a", b"jo2": b"b", b"jp": b"keep", b"j": b"keep"})
    txn = store.transaction()
    txn.put(b"jo3", b"c")
    txn.delete_prefix(b"jo")
    assert list(txn.scan(b"jo")) == []
    assert txn.get(b"jo3") is None
    txn.commit()
    assert list(store.scan(b"j")) == [(b"j", b"keep"), (b"jp", b"keep")]


def test_commit_makes_everything_visible_and_a_dropped_txn_nothing(store: PartitionStore) -> None:
    _seed(store, {b"a": b"1"})
    dropped = store.transaction()
    dropped.put(b"b", b"2")
    dropped.delete(b"a")
    del dropped
    assert store.get(b"a") == b"1" and store.get(b"b") is None

    txn = store.transaction()
    txn.put(b"b", b"2")
    txn.delete(b"a")
    txn.commit()
    assert store.get(b"a") is None and store.get(b"b") == b"2"


def test_commit_is_one_synced_batch(store: PartitionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[dict[bytes, bytes | None], bool]] = []
    real = Database.write

    def spy(self: Database, puts: dict[bytes, bytes | None], sync: bool = True) -> None:
        calls.append((dict(puts), sync))
        real(self, puts, sync)

    monkeypatch.setattr(Database, "write", spy)
    txn = store.transaction()
    txn.put(b"a", b"1")
    txn.put(b"b", b"2")
    txn.delete(b"c")
    txn.commit()
    assert calls == [({b"a": b"1", b"b": b"2", b"c": None}, True)]
    store.transaction().commit()  # an empty transaction writes nothing
    assert len(calls) == 1


class _FailsHalfway(dict[bytes, bytes | None]):
    """A batch whose iteration breaks after two items (a crash while the batch is being built)."""

    def items(self):  # type: ignore[no-untyped-def,override]
        for n, item in enumerate(super().items()):
            if n == 2:
                raise RuntimeError("crash while building the batch")
            yield item


def test_a_batch_that_fails_halfway_writes_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    try:
        db.write({b"k0": b"old"})
        batch = _FailsHalfway({b"k0": None, b"k1": b"1", b"k2": b"2", b"k3": b"3"})
        with pytest.raises(RuntimeError):
            db.write(batch)
        assert db.get(b"k0") == b"old"
        assert db.get(b"k1") is None and db.get(b"k2") is None
    finally:
        db.close()


def test_committed_writes_survive_reopening(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p")
    txn = store.transaction()
    txn.put(b"durable", b"yes")
    txn.commit()
    store.close()
    reopened = PartitionStore(tmp_path / "p")
    try:
        assert reopened.get(b"durable") == b"yes"
    finally:
        reopened.close()


def test_scan_by_kind_sees_only_its_kind_and_later_writes(store: PartitionStore) -> None:
    _seed(store, {b"ib\x00a1": b"stored", b"is\x00a": b"status"})
    txn = store.transaction()
    txn.put(b"is\x00b", b"other kind")
    txn.put(b"ib\x00a0", b"pending")
    assert list(txn.scan(b"ib\x00a")) == [(b"ib\x00a0", b"pending"), (b"ib\x00a1", b"stored")]
    txn.delete(b"ib\x00a0")
    txn.put(b"ib\x00a2", b"later")
    assert list(txn.scan(b"ib")) == [(b"ib\x00a1", b"stored"), (b"ib\x00a2", b"later")]
    assert list(txn.scan(b"is")) == [(b"is\x00a", b"status"), (b"is\x00b", b"other kind")]


def test_a_stacked_transaction_reads_through_the_uncommitted_one_below(store: PartitionStore) -> None:
    """Cluster mode applies a batch on top of one whose append is in flight: it sees that batch's writes
    before and after their commit, and commits only its own."""
    _seed(store, {b"sa": b"1", b"sb": b"2", b"sc": b"3"})
    below = store.transaction()
    below.put(b"sa", b"10")
    below.delete(b"sb")
    below.put(b"sd", b"4")
    above = store.transaction(below)
    assert [above.get(k) for k in (b"sa", b"sb", b"sc", b"sd")] == [b"10", None, b"3", b"4"]
    above.put(b"sc", b"30")
    assert above.committed(b"sa") == b"10"  # the value under it: the batch below's
    assert list(above.scan(b"s")) == [(b"sa", b"10"), (b"sc", b"30"), (b"sd", b"4")]
    assert list(above.scan_range(b"sb", b"sd")) == [(b"sc", b"30")]
    assert store.get(b"sa") == b"1"  # nothing committed yet
    below.commit(sync=False)
    below.detach()
    assert list(above.scan(b"s")) == [(b"sa", b"10"), (b"sc", b"30"), (b"sd", b"4")]
    above.commit(sync=False)
    assert list(store.scan(b"s")) == [(b"sa", b"10"), (b"sc", b"30"), (b"sd", b"4")]
    assert below.get(b"sc") == b"30"  # detached: reads under it go to the store
