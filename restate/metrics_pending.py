"""Hot-loop metric updates kept in the process and written to prometheus-client in one go (about once a second)."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

# Why: in multi-process mode every inc/observe/set is a lock, a pid check and an mmap write (an observe is
# two). A partition made ~19 of them per no-op invocation, 6-8% of its CPU (docs/latency.md). Publishing
# the sums once a second makes that one write per changed value per second. The price: /metrics lags by
# up to a second, and a process that is killed loses its last second of counts (a clean stop publishes).


class PendingCounter:
    """A Counter child's increments, summed here until publish()."""

    __slots__ = ("_child", "_pending")

    def __init__(self, child: Counter) -> None:
        self._child = child
        self._pending: float = 0

    def inc(self, amount: float = 1) -> None:
        self._pending += amount

    def publish(self) -> None:
        if self._pending:
            self._child.inc(self._pending)
            self._pending = 0


class PendingHistogram:
    """A Histogram child's observations, bucketed here as prometheus-client does until publish()."""

    __slots__ = ("_child", "_bounds", "_counts", "_sum", "_any")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        # prometheus-client's own bucket bounds (ascending, the last +Inf): a value goes to the first bound
        # that is >= it, which is what bisect_left finds
        self._bounds: list[float] = list(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._any = False

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount
        self._any = True

    def publish(self) -> None:
        if not self._any:
            return
        child, counts = self._child, self._counts
        child._sum.inc(self._sum)
        for i, n in enumerate(counts):
            if n:
                child._buckets[i].inc(n)
                counts[i] = 0
        self._sum, self._any = 0.0, False


class PendingGauge:
    """A Gauge child's last value, written at publish() if it changed since the last one."""

    __slots__ = ("_child", "_value", "_published")

    def __init__(self, child: Gauge) -> None:
        self._child = child
        self._value: float = 0
        self._published: float | None = None

    def set(self, value: float) -> None:
        self._value = value

    def publish(self) -> None:
        if self._value != self._published:
            self._child.set(self._value)
            self._published = self._value
