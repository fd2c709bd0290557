"""The partition's gauges from batch writes (the dashboard's running/suspended/inboxed/timers columns)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec
import pytest
from prometheus_client import REGISTRY

from restate.actors.partition_stats import PartitionStats
from restate.partition.model import InvocationStatus
from restate.storage import keys
from restate.storage.partition_store import PartitionStore
from restate.wire import Failure, Outcome, Target

_encode = msgspec.msgpack.Encoder().encode
A, B = b"a" * 24, b"b" * 24


def status(value: str, outcome: Outcome | None = None) -> bytes:
    record = InvocationStatus(
        status=value,  # type: ignore[arg-type]
        target=Target("Counter", "add", "k", "virtual_object", True),
        created_at_ms=1,
        modified_at_ms=2,
        outcome=outcome,
    )
    return _encode(record)


def sample(name: str, partition: int, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"partition_id": str(partition), **labels})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    opened = PartitionStore(tmp_path / "p")
    yield opened
    opened.close()


def apply(
    stats: PartitionStats, store: PartitionStore, writes: Mapping[bytes, bytes | None], commands: int = 1
) -> None:
    txn = store.transaction()
    for key, value in writes.items():
        if value is None:
            txn.delete(key)
        else:
            txn.put(key, value)
    stats.on_batch(txn, commands)
    stats.commit(txn)


def test_statuses_inbox_timers_and_outcomes_follow_the_writes(store: PartitionStore) -> None:
    p = 901
    stats = PartitionStats(p, store)
    stats.count_queues()
    inbox, timer = keys.inbox_key("Counter", "k", 1), keys.timer_key(1000, A, 1)
    apply(
        stats,
        store,
        {keys.status_key(A): status("invoked"), keys.status_key(B): status("inboxed"), inbox: b"B", timer: b""},
    )
    assert sample("restate_partition_invocations", p, status="invoked") == 1
    assert sample("restate_partition_invocations", p, status="inboxed") == 1
    assert (sample("restate_partition_inbox_depth", p), sample("restate_partition_timers", p)) == (1, 1)
    failed = Outcome(failure=Failure(500, "boom"))
    apply(
        stats,
        store,
        {keys.status_key(A): status("completed", failed), keys.status_key(B): status("invoked"), inbox: None},
    )
    assert sample("restate_partition_invocations", p, status="invoked") == 1
    assert sample("restate_partition_invocations", p, status="inboxed") == 0
    assert sample("restate_partition_inbox_depth", p) == 0
    assert sample("restate_partition_invocations_completed_total", p, outcome="failure") == 1
    # a completed record rewritten (e.g. its journal purged) or deleted is not completed again
    apply(stats, store, {keys.status_key(A): status("completed", failed)})
    apply(stats, store, {keys.status_key(A): None})
    assert sample("restate_partition_invocations_completed_total", p, outcome="failure") == 1
    # completed in the batch that created it: counted; a timer added and removed in one batch: not stored
    other = keys.timer_key(2000, B, 2)
    apply(stats, store, {keys.status_key(b"c" * 24): status("completed", Outcome(value=b"1")), other: None})
    assert sample("restate_partition_invocations_completed_total", p, outcome="success") == 1
    assert sample("restate_partition_timers", p) == 1
    assert sample("restate_partition_commands_applied_total", p) == 5
    assert sample("restate_partition_commit_batch_size_count", p) == 5
    assert sample("restate_partition_fsync_duration_seconds_count", p) == 5
    assert sample("restate_partition_journal_entries_written_total", p) == 0


def test_recovery_counts_what_is_stored(store: PartitionStore) -> None:
    first = PartitionStats(902, store)
    writes = {
        keys.status_key(A): status("suspended"),
        keys.status_key(B): status("completed", Outcome(value=b"1")),
        keys.inbox_key("Counter", "k", 7): b"x",
        keys.timer_key(5, A, 3): b"",
        keys.journal_key(A, 0): b"input",
    }
    apply(first, store, writes, commands=3)
    assert sample("restate_partition_journal_entries_written_total", 902) == 1
    again = PartitionStats(903, store)  # a restarted partition (another label, to read it apart)
    prefix = keys.KeyKind.STATUS.value
    for key, raw in store.scan(prefix):
        again.recovered(key[len(prefix) :], msgspec.msgpack.decode(raw, type=InvocationStatus).status)
    again.count_queues()
    assert sample("restate_partition_invocations", 903, status="suspended") == 1
    assert sample("restate_partition_invocations", 903, status="invoked") == 0
    assert (sample("restate_partition_inbox_depth", 903), sample("restate_partition_timers", 903)) == (1, 1)
    assert sample("restate_partition_start_total", 903) == 1


def test_queue_counts_are_stored_with_the_batches_not_recounted(store: PartitionStore) -> None:
    first = PartitionStats(904, store)
    first.count_queues()  # a new shard: counted (nothing) and stored
    apply(first, store, {keys.timer_key(5, A, 3): b"", keys.timer_key(6, B, 1): b"", keys.inbox_key("C", "k", 1): b"x"})
    txn = store.transaction()
    txn.delete(keys.timer_key(6, B, 1))  # behind the stats' back: a restart must not scan the timers again
    txn.commit()
    again = PartitionStats(905, store)
    again.count_queues()
    assert (sample("restate_partition_inbox_depth", 905), sample("restate_partition_timers", 905)) == (1, 2)


def test_a_shard_without_stored_counts_is_counted_once(store: PartitionStore) -> None:
    txn = store.transaction()
    txn.put(keys.timer_key(5, A, 3), b"")
    txn.commit()
    PartitionStats(906, store).count_queues()
    assert sample("restate_partition_timers", 906) == 1
    assert store.get(keys.fsm_key("stats/timers")) == keys.u64(1)
