"""Pending metric values: what publish() writes equals what direct prometheus-client calls would have."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from restate.metrics_pending import PendingCounter, PendingGauge, PendingHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    return {
        s.name.removeprefix(name) + s.labels.get("le", ""): s.value
        for m in registry.collect()
        for s in m.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


def test_a_histogram_publishes_the_buckets_and_sum_of_direct_observations() -> None:
    registry = CollectorRegistry()
    direct = Histogram("direct", "d", buckets=BUCKETS, registry=registry)
    pending = PendingHistogram(Histogram("pending", "p", buckets=BUCKETS, registry=registry))
    values = [0.0, 0.001, 0.0011, 0.05, 0.1, 0.5, 1.0, 3.0, 0.01]  # on, below and above every bound
    for v in values:
        direct.observe(v)
        pending.observe(v)
    assert samples(registry, "pending")["_count"] == 0  # nothing written before publish()
    pending.publish()
    assert samples(registry, "pending") == samples(registry, "direct")
    pending.publish()  # nothing new: nothing added
    pending.observe(0.2)
    direct.observe(0.2)
    pending.publish()
    assert samples(registry, "pending") == samples(registry, "direct")


def test_a_counter_publishes_its_sum_once() -> None:
    registry = CollectorRegistry()
    pending = PendingCounter(Counter("c", "c", registry=registry))
    for _ in range(5):
        pending.inc()
    pending.inc(2.5)
    assert registry.get_sample_value("c_total") == 0
    pending.publish()
    pending.publish()
    assert registry.get_sample_value("c_total") == 7.5


def test_a_gauge_is_written_only_when_it_changed() -> None:
    class CountingGauge(Gauge):
        writes = 0

        def set(self, value: float) -> None:
            CountingGauge.writes += 1
            super().set(value)

    registry = CollectorRegistry()
    gauge = CountingGauge("g", "g", registry=registry)
    pending = PendingGauge(gauge)
    pending.publish()  # the first publish writes the value, even 0 (the metric exists from the start)
    pending.set(3)
    pending.set(4)
    pending.publish()
    pending.publish()
    assert registry.get_sample_value("g") == 4 and CountingGauge.writes == 2
