"""Typed table access (restate.storage.tables / view): what the state machine writes and everyone reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.storage import records as r
from restate.storage.partition_store import PartitionStore
from restate.storage.tables import Tables
from restate.storage.view import KeyScope, PartitionView
from tests.unit.storage import samples

A, B, C, D = (bytes([n]) * 24 for n in range(1, 5))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    s = PartitionStore(tmp_path / "p")
    yield s
    s.close()


def _status(state: r.InvocationState) -> r.InvocationStatus:
    target = r.InvocationTarget(service="Greeter", handler="greet")
    return r.InvocationStatus(target=target, created_at_ms=1, modified_at_ms=1, state=state, journal=r.JournalIndex())


def test_status_round_trip(store: PartitionStore) -> None:
    status = samples.status()
    txn = store.transaction()
    Tables(txn).put_status(A, status)
    txn.commit()
    assert PartitionView(store).status(A) == status
    assert list(PartitionView(store).statuses()) == [(A, status)]
    assert list(PartitionView(store).statuses([B, A])) == [(A, status)]  # only those that exist


def test_journal_entries_in_order_and_deleted_together(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    tables.put_entry(A, 1, b"f1")
    tables.put_entry(A, 0, b"f0")
    tables.put_entry(B, 0, b"other")
    assert list(tables.journal(A)) == [(0, b"f0"), (1, b"f1")]  # a transaction reads its own writes
    tables.txn.commit()
    assert PartitionView(store).journal_frames(A) == [b"f0", b"f1"]
    tables = Tables(store.transaction())
    tables.delete_journal(A)
    tables.txn.commit()
    assert list(PartitionView(store).journal(A)) == [] and PartitionView(store).journal_frames(B) == [b"other"]


def test_inbox_pops_in_arrival_order_per_key(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    a1, b1, a2, a3 = (r.QueuedInvocation(invocation_id=i) for i in (A, B, C, D))
    tables.enqueue("Counter", "a", a1)
    tables.enqueue("Counter", "b", b1)
    seq = tables.enqueue("Counter", "a", a2)
    replacement = r.QueuedStateReplacement(new_state=[(b"k", b"v")], version="x")
    tables.enqueue("Counter", "a", a3)
    tables.enqueue("Counter", "a", replacement)
    tables.remove_from_inbox("Counter", "a", seq)
    tables.txn.commit()
    entries = [(s, k, n, e.item) for s, k, n, e in PartitionView(store).inbox_entries()]
    assert entries == [("Counter", "a", 1, a1), ("Counter", "a", 4, a3), ("Counter", "a", 5, replacement),
                       ("Counter", "b", 2, b1)]  # fmt: skip
    tables = Tables(store.transaction())
    assert [tables.pop_inbox("Counter", "a") for _ in range(4)] == [a1, a3, replacement, None]
    assert tables.pop_inbox("Counter", "b") == b1


def test_sequences_and_dedup(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    item = r.QueuedInvocation(invocation_id=A)
    assert [tables.enqueue("S", "k", item) for _ in range(3)] == [1, 2, 3]
    message = samples.outbox_items()[0]
    assert [tables.add_outbox(1, message), tables.add_outbox(2, message), tables.add_outbox(1, message)] == [1, 1, 2]
    assert tables.last_applied(1) == 0
    tables.set_last_applied(1, 300)
    tables.set_last_applied(10, 7)
    tables.txn.commit()
    tables = Tables(store.transaction())
    assert tables.enqueue("S", "other", item) == 4  # one sequence for every key
    assert (tables.last_applied(1), tables.last_applied(10)) == (300, 7)


def test_outbox_round_trip(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    messages = samples.outbox_items()
    seqs = [tables.add_outbox(2, m) for m in messages]
    tables.add_outbox(0, messages[0])
    tables.txn.commit()
    tables = Tables(store.transaction())
    assert list(tables.outbox()) == [(0, 1, messages[0])] + [(2, s, m) for s, m in zip(seqs, messages, strict=True)]
    tables.delete_outbox(2, seqs[1])
    assert [seq for d, seq, _ in tables.outbox() if d == 2] == [seqs[0], *seqs[2:]]


def test_timers(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    tables.add_timer(100, A, 1)
    tables.add_timer(50, B, 2)
    tables.add_timer(200, A, 3)
    assert tables.timer_exists(100, A, 1)
    assert not tables.timer_exists(100, A, 2)
    assert list(tables.timers_due(100)) == [(50, B, 2), (100, A, 1)]  # a transaction's own writes, in order
    tables.delete_timer(100, A, 1)
    assert not tables.timer_exists(100, A, 1)
    tables.txn.commit()
    assert list(PartitionView(store).timers_due(10_000)) == [(50, B, 2), (200, A, 3)]


def test_live_index_follows_every_status_write(store: PartitionStore) -> None:
    running, suspended, done, purged = A, B, C, D
    tables = Tables(store.transaction())
    tables.put_status(running, _status(r.Invoked(attempts=r.Attempts(number=1))))
    tables.put_status(suspended, _status(r.Suspended(attempts=r.Attempts(number=1), awaiting=b"")))
    tables.put_status(done, _status(r.Invoked(attempts=r.Attempts(number=1))))
    tables.put_status(done, _status(r.Completed(outcome=r.OutcomeRecord(), expires_at_ms=5)))
    tables.put_status(purged, _status(r.Scheduled(execute_at_ms=5)))
    tables.delete_status(purged)
    tables.txn.commit()
    assert sorted(PartitionView(store).live()) == sorted([(running, "invoked"), (suspended, "suspended")])


def test_keyed_scans_read_only_the_keys_in_scope(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    for service, key in (("Counter", "a"), ("Counter", "b"), ("Cart", "a"), ("Other", "a")):
        tables.set_state(service, key, b"n", f"{service}/{key}".encode())
        tables.lock(service, key, A)
        tables.put_promise(service, key, "p", r.PromiseRecord())
    tables.txn.commit()
    view = PartitionView(store)
    keys_of = lambda scope: sorted((s, k) for s, k, _, _ in view.state_entries(scope))  # noqa: E731
    assert keys_of(KeyScope()) == [("Cart", "a"), ("Counter", "a"), ("Counter", "b"), ("Other", "a")]
    assert keys_of(KeyScope(services=frozenset({"Counter"}))) == [("Counter", "a"), ("Counter", "b")]
    assert keys_of(KeyScope(object_keys=frozenset({"b"}))) == [("Counter", "b")]
    assert keys_of(KeyScope(service_prefix="C")) == [("Cart", "a"), ("Counter", "a"), ("Counter", "b")]
    assert [(s, k, h) for s, k, h in view.locks(KeyScope(services=frozenset({"Cart"})))] == [("Cart", "a", A)]
    assert [(s, k, n) for s, k, n, _ in view.promises(KeyScope(object_keys=frozenset({"b"})))] == [
        ("Counter", "b", b"p")
    ]
    assert view.lock_holder("Other", "a") == A and view.lock_holder("Other", "zz") is None
    assert view.state("Counter", "a") == [(b"n", b"Counter/a")] and view.state_names("Cart", "a") == [b"n"]
