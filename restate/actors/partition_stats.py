"""A partition's metrics: per-batch counters and histograms, and its gauges kept from each batch's changes."""

from __future__ import annotations

import time

from restate.metrics import LIVE_STATUSES, InvokerMetrics, PartitionMetrics
from restate.storage.records import QueueCountsRecord
from restate.storage.tables import BatchChanges
from restate.storage.view import PartitionView


class PartitionStats:
    """Counts invocations per status, inbox entries and timers from what each batch changed.

    The counts start from the recovery (`recovered`, `queues_recovered`) and change only with the
    batches (`on_batch`, from restate.storage.tables.Tables.close_batch), so nothing is rescanned while
    the partition runs; the store keeps the inbox and timer counts itself."""

    def __init__(self, index: int, invoker: InvokerMetrics | None = None) -> None:
        self.metrics = PartitionMetrics(index)
        self._invoker = invoker  # its pending values are published with ours
        self._live: dict[bytes, str] = {}  # invocation id -> status, for invocations not completed
        self._counts = dict.fromkeys(LIVE_STATUSES, 0)
        self._inbox = 0
        self._timers = 0

    # --- recovery

    def recovered(self, invocation_id: bytes, status: str) -> None:
        """One invocation not completed, found by the recovery."""
        if status in self._counts:
            self._live[invocation_id] = status
            self._counts[status] += 1

    def queues_recovered(self, counts: QueueCountsRecord) -> None:
        """The stored inbox and timer counts; publishes every gauge (once, at start)."""
        self._inbox, self._timers = counts.inbox, counts.timers
        self.metrics.start.inc()
        self._publish()

    # --- the loop

    def on_batch(self, changes: BatchChanges, commands: int, written: bool, committed: PartitionView) -> None:
        """Records one applied batch (`written`: it changed the store); `committed` reads the store as it
        was before the batch (call this before the commit)."""
        self.metrics.commands.inc(commands)
        if not written:
            return
        self.metrics.batch_size.observe(commands)
        if changes.journal_entries:
            self.metrics.journal_entries.inc(changes.journal_entries)
        if changes.inbox is not None:
            self._inbox = changes.inbox
            self.metrics.inbox.set(self._inbox)
        if changes.timers is not None:
            self._timers = changes.timers
            self.metrics.timers.set(self._timers)
        if changes.statuses:
            for change in changes.statuses:
                self._on_status(change.invocation_id, change.status, change.failed, committed)
            for status, gauge in self.metrics.invocations.items():  # pending: written if changed, at publish
                gauge.set(self._counts[status])

    def observe_fsync(self, seconds: float) -> None:
        """The latency of one batch's commit (its fsync)."""
        self.metrics.fsync.observe(seconds)

    def beat(self) -> None:
        """Marks the partition loop alive (the dashboard's liveness) and publishes what the batches and the
        invoker recorded since the last beat; the loop calls it about once a second, and once at a clean stop."""
        self.metrics.publish()
        if self._invoker is not None:
            self._invoker.publish()
        self.metrics.heartbeat.set(time.time())

    # --- helpers

    def _on_status(self, invocation_id: bytes, status: str | None, failed: bool, committed: PartitionView) -> None:
        old = self._live.pop(invocation_id, None)
        if old is not None:
            self._counts[old] -= 1
        if status is None:
            return
        if status in self._counts:
            self._live[invocation_id] = status
            self._counts[status] += 1
            return
        if status != "completed":
            return
        if old is None:  # not seen running: completed in this batch, or an already completed record rewritten
            previous = committed.status(invocation_id)
            if previous is not None and previous.status == "completed":
                return
        (self.metrics.failure if failed else self.metrics.success).inc()

    def _publish(self) -> None:
        self.metrics.inbox.set(self._inbox)
        self.metrics.timers.set(self._timers)
        for status, gauge in self.metrics.invocations.items():
            gauge.set(self._counts[status])
        self.metrics.publish()
