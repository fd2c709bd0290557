"""The partition's gauges from each batch's changes (the dashboard's running/suspended/inboxed/timers columns)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from restate.actors.partition_stats import PartitionStats
from restate.metrics import InvokerMetrics
from restate.storage import records as r
from restate.storage.partition_store import PartitionStore
from restate.storage.tables import Tables
from restate.storage.view import PartitionView

A, B, C = b"a" * 24, b"b" * 24, b"c" * 24
TARGET = r.InvocationTarget(service="Counter", handler="add", key="k", service_ty="virtual_object", exclusive=True)
RAN = r.Attempts(number=1)


def status(state: r.InvocationState) -> r.InvocationStatus:
    return r.InvocationStatus(target=TARGET, created_at_ms=1, modified_at_ms=2, state=state, journal=r.JournalIndex())


def completed(failure: bool = False) -> r.InvocationStatus:
    outcome = r.OutcomeRecord(failure=r.FailureRecord(code=500, message="boom")) if failure else r.OutcomeRecord()
    return status(r.Completed(outcome=outcome, expires_at_ms=9))


def sample(name: str, partition: int, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"partition_id": str(partition), **labels})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    opened = PartitionStore(tmp_path / "p")
    yield opened
    opened.close()


def apply(
    stats: PartitionStats, store: PartitionStore, write: Callable[[Tables], None], commands: int = 1, beat: bool = True
) -> None:
    """One batch, as the partition actor runs it: writes, close_batch, on_batch, the timed commit; then
    (`beat`) the loop's heartbeat, which publishes what the batches recorded."""
    txn = store.transaction()
    tables = Tables(txn)
    write(tables)
    stats.on_batch(tables.close_batch(), commands, not txn.is_empty, PartitionView(store))
    started = time.perf_counter()
    txn.commit()
    stats.observe_fsync(time.perf_counter() - started)
    if beat:
        stats.beat()


def test_statuses_inbox_timers_and_outcomes_follow_the_writes(store: PartitionStore) -> None:
    p = 901
    stats = PartitionStats(p)
    stats.queues_recovered(PartitionView(store).queue_counts())

    def first(t: Tables) -> None:
        t.put_status(A, status(r.Invoked(attempts=RAN)))
        t.put_status(B, status(r.Inboxed(inbox_seq=1)))
        t.enqueue("Counter", "k", r.QueuedInvocation(invocation_id=B))
        t.add_timer(1000, A, 1)

    apply(stats, store, first, beat=False)
    assert sample("restate_partition_invocations", p, status="invoked") == 0  # recorded, not published yet
    assert sample("restate_partition_commands_applied_total", p) == 0
    stats.beat()
    assert sample("restate_partition_invocations", p, status="invoked") == 1
    assert sample("restate_partition_invocations", p, status="inboxed") == 1
    assert (sample("restate_partition_inbox_depth", p), sample("restate_partition_timers", p)) == (1, 1)

    def second(t: Tables) -> None:
        t.put_status(A, completed(failure=True))
        t.put_status(B, status(r.Invoked(attempts=RAN)))
        assert t.pop_inbox("Counter", "k") == r.QueuedInvocation(invocation_id=B)

    apply(stats, store, second)
    assert sample("restate_partition_invocations", p, status="invoked") == 1
    assert sample("restate_partition_invocations", p, status="inboxed") == 0
    assert sample("restate_partition_inbox_depth", p) == 0
    assert sample("restate_partition_invocations_completed_total", p, outcome="failure") == 1
    # a completed record rewritten (e.g. its journal purged) or deleted is not completed again
    apply(stats, store, lambda t: t.put_status(A, completed(failure=True)))
    apply(stats, store, lambda t: t.delete_status(A))
    assert sample("restate_partition_invocations_completed_total", p, outcome="failure") == 1

    # completed in the batch that created it: counted; a timer added and removed in one batch: not stored
    def third(t: Tables) -> None:
        t.put_status(C, completed())
        t.add_timer(2000, B, 2)
        t.delete_timer(2000, B, 2)

    apply(stats, store, third)
    assert sample("restate_partition_invocations_completed_total", p, outcome="success") == 1
    assert sample("restate_partition_timers", p) == 1
    assert sample("restate_partition_commands_applied_total", p) == 5
    assert sample("restate_partition_commit_batch_size_count", p) == 5
    assert sample("restate_partition_fsync_duration_seconds_count", p) == 5
    assert sample("restate_partition_journal_entries_written_total", p) == 0


def test_recovery_counts_what_is_stored(store: PartitionStore) -> None:
    first = PartitionStats(902)

    def write(t: Tables) -> None:
        t.put_status(A, status(r.Suspended(attempts=RAN, awaiting=b"")))
        t.put_status(B, completed())
        t.enqueue("Counter", "k", r.QueuedInvocation(invocation_id=C))
        t.add_timer(5, A, 3)
        t.put_entry(A, 0, b"input")

    apply(first, store, write, commands=3)
    assert sample("restate_partition_journal_entries_written_total", 902) == 1
    again = PartitionStats(903)  # a restarted partition (another label, to read it apart)
    view = PartitionView(store)
    for invocation_id, name in view.live():
        again.recovered(invocation_id, name)
    again.queues_recovered(view.queue_counts())
    assert sample("restate_partition_invocations", 903, status="suspended") == 1
    assert sample("restate_partition_invocations", 903, status="invoked") == 0
    assert (sample("restate_partition_inbox_depth", 903), sample("restate_partition_timers", 903)) == (1, 1)
    assert sample("restate_partition_start_total", 903) == 1


def test_queue_counts_are_stored_with_the_batches_not_recounted(store: PartitionStore) -> None:
    first = PartitionStats(904)
    first.queues_recovered(PartitionView(store).queue_counts())  # a new shard: nothing

    def write(t: Tables) -> None:
        t.add_timer(5, A, 3)
        t.add_timer(6, B, 1)
        t.enqueue("C", "k", r.QueuedInvocation(invocation_id=C))

    apply(first, store, write)
    txn = store.transaction()
    Tables(txn).delete_timer(6, B, 1)  # behind the stats' back (no close_batch): a restart must not count again
    txn.commit()
    again = PartitionStats(905)
    again.queues_recovered(PartitionView(store).queue_counts())
    assert (sample("restate_partition_inbox_depth", 905), sample("restate_partition_timers", 905)) == (1, 2)


def test_a_publish_writes_only_the_status_gauges_whose_count_changed(store: PartitionStore) -> None:
    stats = PartitionStats(904)
    stats.queues_recovered(PartitionView(store).queue_counts())
    written: list[str] = []

    class Recording:
        def __init__(self, name: str, child: Any) -> None:
            self.name, self.child = name, child

        def set(self, value: float) -> None:
            written.append(self.name)
            self.child.set(value)

    for name, gauge in stats.metrics.invocations.items():
        gauge._child = Recording(name, gauge._child)  # type: ignore[assignment]
    apply(stats, store, lambda t: t.put_status(A, status(r.Invoked(attempts=RAN))))
    assert written == ["invoked"]
    written.clear()
    apply(stats, store, lambda t: t.put_status(A, status(r.Invoked(attempts=r.Attempts(number=2)))))  # same status
    assert written == []
    apply(stats, store, lambda t: t.put_status(A, status(r.Suspended(attempts=RAN, awaiting=b""))))
    assert sorted(written) == ["invoked", "suspended"]
    assert sample("restate_partition_invocations", 904, status="suspended") == 1
    assert sample("restate_partition_invocations", 904, status="invoked") == 0


def test_a_beat_publishes_the_invokers_pending_metrics_too() -> None:
    invoker = InvokerMetrics(906)
    stats = PartitionStats(906, invoker)
    invoker.started.inc()
    invoker.duration.observe(0.01)
    assert not sample("restate_invoker_invocation_tasks_total", 906, status="started")  # pending
    stats.beat()
    assert sample("restate_invoker_invocation_tasks_total", 906, status="started") == 1
    assert sample("restate_invoker_task_duration_seconds_count", 906) == 1
