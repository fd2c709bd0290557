"""A partition's metrics: per-batch counters and histograms, and its gauges kept from each batch's writes."""

from __future__ import annotations

import time

import msgspec

from restate.metrics import LIVE_STATUSES, PartitionMetrics
from restate.storage import keys
from restate.storage.partition_store import PartitionStore, Transaction
from restate.wire import Outcome

_STATUS = keys.KeyKind.STATUS.value
_JOURNAL = keys.KeyKind.JOURNAL.value
_INBOX = keys.KeyKind.INBOX.value
_TIMERS = keys.KeyKind.TIMERS.value
_INBOX_COUNT = keys.fsm_key("stats/inbox")
_TIMERS_COUNT = keys.fsm_key("stats/timers")


class _StatusView(msgspec.Struct):
    """The two fields of a stored InvocationStatus the metrics need (msgspec skips the others)."""

    status: str = ""
    outcome: Outcome | None = None


_decode_status = msgspec.msgpack.Decoder(_StatusView).decode


class PartitionStats:
    """Counts invocations per status, inbox entries and timers by diffing each batch's writes.

    The counts start from the recovery (`recovered`, `count_queues`) and change only with the writes of
    committed batches, so nothing is rescanned while the partition runs. Inbox and timer writes cost
    one point read each (did the key exist before this batch?). The inbox and timer counts are stored
    with each batch that changes them: every completed invocation keeps a retention timer, and
    counting those at every start would make a restart as slow as the retention is long."""

    def __init__(self, index: int, store: PartitionStore) -> None:
        self.metrics = PartitionMetrics(index)
        self.store = store
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

    def count_queues(self) -> None:
        """Reads the stored inbox and timer counts (counts them once on a shard that has none), then
        publishes every gauge (once, at start)."""
        inbox, timers = self.store.get(_INBOX_COUNT), self.store.get(_TIMERS_COUNT)
        if inbox is None or timers is None:
            self._inbox = sum(1 for _ in self.store.scan(_INBOX))
            self._timers = sum(1 for _ in self.store.scan(_TIMERS))
            txn = self.store.transaction()
            self._store_counts(txn)
            txn.commit()
        else:
            self._inbox, self._timers = keys.read_u64(inbox), keys.read_u64(timers)
        self.metrics.start.inc()
        self._publish()

    # --- the loop

    def on_batch(self, txn: Transaction, commands: int) -> None:
        """Records one applied batch; call it before the commit (it compares with the stored values)."""
        self.metrics.commands.inc(commands)
        writes = txn.writes
        if not writes:
            return
        self.metrics.batch_size.observe(commands)
        journal = inbox = timers = 0
        statuses = False
        for key, value in writes.items():
            prefix = key[:2]
            if prefix == _STATUS:
                self._on_status(key, value)
                statuses = True
            elif prefix == _JOURNAL:
                journal += value is not None
            elif prefix == _INBOX:
                inbox += self._delta(key, value)
            elif prefix == _TIMERS:
                timers += self._delta(key, value)
        if journal:
            self.metrics.journal_entries.inc(journal)
        if inbox:
            self._inbox = max(0, self._inbox + inbox)
            self.metrics.inbox.set(self._inbox)
        if timers:
            self._timers = max(0, self._timers + timers)
            self.metrics.timers.set(self._timers)
        if inbox or timers:
            self._store_counts(txn)
        if statuses:
            for status, gauge in self.metrics.invocations.items():
                gauge.set(self._counts[status])

    def commit(self, txn: Transaction) -> None:
        """Commits (fsync) and records its latency; runs on the commit thread."""
        started = time.perf_counter()
        txn.commit()
        self.metrics.fsync.observe(time.perf_counter() - started)

    def beat(self) -> None:
        """Marks the partition loop alive (the dashboard's liveness); the loop calls it about once a second."""
        self.metrics.heartbeat.set(time.time())

    # --- helpers

    def _store_counts(self, txn: Transaction) -> None:
        txn.put(_INBOX_COUNT, keys.u64(self._inbox))
        txn.put(_TIMERS_COUNT, keys.u64(self._timers))

    def _on_status(self, key: bytes, raw: bytes | None) -> None:
        invocation_id = key[len(_STATUS) :]
        old = self._live.pop(invocation_id, None)
        if old is not None:
            self._counts[old] -= 1
        if raw is None:
            return
        view = _decode_status(raw)
        if view.status in self._counts:
            self._live[invocation_id] = view.status
            self._counts[view.status] += 1
            return
        if view.status != "completed":
            return
        if old is None:  # not seen running: completed in this batch, or an already completed record rewritten
            previous = self.store.get(key)
            if previous is not None and _decode_status(previous).status == "completed":
                return
        failed = view.outcome is not None and view.outcome.failure is not None
        (self.metrics.failure if failed else self.metrics.success).inc()

    def _delta(self, key: bytes, value: bytes | None) -> int:
        existed = self.store.get(key) is not None
        if value is None:
            return -1 if existed else 0
        return 0 if existed else 1

    def _publish(self) -> None:
        self.metrics.inbox.set(self._inbox)
        self.metrics.timers.set(self._timers)
        for status, gauge in self.metrics.invocations.items():
            gauge.set(self._counts[status])
