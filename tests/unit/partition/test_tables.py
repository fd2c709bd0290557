"""Typed table access used by the state machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.partition.model import InvocationStatus
from restate.partition.tables import Tables
from restate.storage.partition_store import PartitionStore
from restate.wire import CallerSink, Failure, InvocationResponse, OutboxMessage, Outcome, Signal
from tests.unit.partition.harness import GREETER, new_id, request


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    s = PartitionStore(tmp_path / "p")
    yield s
    s.close()


def test_status_round_trip(store: PartitionStore) -> None:
    inv = new_id()
    status = InvocationStatus(
        status="invoked",
        target=GREETER,
        created_at_ms=1,
        modified_at_ms=2,
        outcome=Outcome(failure=Failure(418, "nope", [("k", "v")])),
        callers=[CallerSink(new_id(), 2)],
    )
    txn = store.transaction()
    Tables(txn).put_status(inv, status)
    txn.commit()
    assert Tables(store.transaction()).status(inv) == status


def test_append_entry_counts_and_stamps(store: PartitionStore) -> None:
    inv = new_id()
    status = InvocationStatus(status="invoked", target=GREETER, created_at_ms=1, modified_at_ms=1)
    tables = Tables(store.transaction())
    assert tables.append_entry(inv, status, b"f0", 10) == 0
    assert tables.append_entry(inv, status, b"f1", 20) == 1
    assert status.journal_len == 2 and status.last_entry_at_ms == 20
    tables.delete_journal(inv)
    tables.txn.commit()
    assert list(store.scan(b"jo")) == []


def test_inbox_pops_in_arrival_order_per_key(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    a1, b1, a2, a3 = new_id(), new_id(), new_id(), new_id()
    tables.enqueue_inbox("Counter", "a", a1)
    tables.enqueue_inbox("Counter", "b", b1)
    seq = tables.enqueue_inbox("Counter", "a", a2)
    tables.enqueue_inbox("Counter", "a", a3)
    tables.remove_from_inbox("Counter", "a", seq)
    tables.txn.commit()
    tables = Tables(store.transaction())
    assert tables.pop_inbox("Counter", "a") == a1
    assert tables.pop_inbox("Counter", "a") == a3
    assert tables.pop_inbox("Counter", "a") is None
    assert tables.pop_inbox("Counter", "b") == b1


def test_counters_and_dedup(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    assert [tables.next_seq("x") for _ in range(3)] == [1, 2, 3]
    assert tables.next_seq("y") == 1
    assert tables.last_applied(1) == 0
    tables.set_last_applied(1, 300)
    tables.set_last_applied(10, 7)
    tables.txn.commit()
    tables = Tables(store.transaction())
    assert tables.next_seq("x") == 4
    assert (tables.last_applied(1), tables.last_applied(10)) == (300, 7)


def test_outbox_round_trip(store: PartitionStore) -> None:
    tables = Tables(store.transaction())
    messages: list[OutboxMessage] = [
        request(),
        InvocationResponse(CallerSink(new_id(), 2), Outcome(value=b"v")),
        Signal(new_id(), 17, None, Outcome(failure=Failure(500, "x"))),
    ]
    seqs = [tables.add_outbox(2, m) for m in messages]
    tables.add_outbox(0, messages[0])
    tables.txn.commit()
    tables = Tables(store.transaction())
    assert list(tables.outbox()) == [(0, 1, messages[0])] + [(2, s, m) for s, m in zip(seqs, messages, strict=True)]
    tables.delete_outbox(2, seqs[1])
    assert [seq for d, seq, _ in tables.outbox() if d == 2] == [seqs[0], seqs[2]]


def test_timers(store: PartitionStore) -> None:
    inv = new_id()
    tables = Tables(store.transaction())
    tables.add_timer(100, inv, 1)
    assert tables.timer_exists(100, inv, 1)
    assert not tables.timer_exists(100, inv, 2)
    tables.delete_timer(100, inv, 1)
    assert not tables.timer_exists(100, inv, 1)


def _status(name: str) -> InvocationStatus:
    return InvocationStatus(status=name, target=GREETER, created_at_ms=1, modified_at_ms=1)  # type: ignore[arg-type]


def test_live_index_follows_every_status_write(store: PartitionStore) -> None:
    running, suspended, done, purged = new_id(), new_id(), new_id(), new_id()
    tables = Tables(store.transaction())
    assert tables.ensure_live_index()  # a new shard: nothing to index, the marker is set
    tables.put_status(running, _status("invoked"))
    tables.put_status(suspended, _status("suspended"))
    tables.put_status(done, _status("invoked"))
    tables.put_status(done, _status("completed"))
    tables.put_status(purged, _status("scheduled"))
    tables.delete_status(purged)
    tables.txn.commit()
    reread = Tables(store.transaction())
    assert not reread.ensure_live_index()
    assert sorted(reread.live()) == sorted([(running, "invoked"), (suspended, "suspended")])


def test_live_index_is_built_once_for_a_shard_that_predates_it(store: PartitionStore) -> None:
    from restate.storage import keys

    running, done = new_id(), new_id()
    txn = store.transaction()
    tables = Tables(txn)
    tables.put_status(running, _status("invoked"))
    tables.put_status(done, _status("completed"))
    txn.delete(keys.live_key(running))  # as an older version wrote it: statuses only
    txn.commit()
    tables = Tables(store.transaction())
    assert list(tables.live()) == []
    assert tables.ensure_live_index()
    tables.txn.commit()
    assert list(Tables(store.transaction()).live()) == [(running, "invoked")]
