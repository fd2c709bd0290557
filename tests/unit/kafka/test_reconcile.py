"""The Kafka process keeps one consumer per subscription whose cluster exists: started, restarted when the
subscription's cluster changes, stopped when the subscription goes or its cluster is force-deleted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from restate.config import Config
from restate.kafka import process
from restate.kafka.consumer import SubscriptionConsumer
from restate.kafka.definitions import KafkaCluster, KafkaRegistry, Subscription

SUB = Subscription("sub_1020ZhuLtXKOXg0DnE8ERnr", "dyn", "t1", "KSvc", "raw", "service", {"group.id": "g"})
ORPHAN_OF_STATIC = Subscription("sub_16indg1fUqXWD59b6WYY2qd", "static", "t2", "KSvc", "raw", "service", {})


def _registry(version: int, clusters: dict[str, KafkaCluster], subs: list[Subscription]) -> KafkaRegistry:
    return KafkaRegistry(version, clusters, {s.id: s for s in subs})


def test_consumers_follow_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def idle(self: SubscriptionConsumer) -> None:
        while not self._stopping:
            await asyncio.sleep(0.01)

    monkeypatch.setattr(SubscriptionConsumer, "run", idle)
    config = Config(base_dir=str(tmp_path), default_num_partitions=2,
                    kafka_clusters={"static": {"metadata.broker.list": "127.0.0.1:1"}})  # fmt: skip
    dyn = KafkaCluster("dyn", {"bootstrap.servers": "127.0.0.1:1"}, 5)

    async def scenario() -> None:
        kafka = process.KafkaIngress(config)
        try:
            kafka.registry = _registry(1, {"dyn": dyn}, [SUB, ORPHAN_OF_STATIC])
            kafka.reconcile()
            first = kafka.running[SUB.id][0]
            assert sorted(kafka.running) == sorted([SUB.id, ORPHAN_OF_STATIC.id])  # static clusters count too
            assert kafka.running[ORPHAN_OF_STATIC.id][0].cluster.static
            kafka.registry = _registry(2, {"dyn": KafkaCluster("dyn", {"bootstrap.servers": "b:2"}, 5)}, [SUB])
            kafka.reconcile()  # the cluster's properties changed: a new consumer; the deleted one stopped
            assert list(kafka.running) == [SUB.id] and kafka.running[SUB.id][0] is not first
            assert first._stopping
            kafka.registry = _registry(3, {}, [SUB])  # its cluster force-deleted: an orphan, not consumed
            kafka.reconcile()
            assert kafka.running == {}
        finally:
            kafka.node.close()

    asyncio.run(scenario())
