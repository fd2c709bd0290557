"""Kafka subscriptions in cluster mode: the registry is the cluster's (made through one node, listed by every
node at once), every node consumes in the subscription's consumer group, and records become invocations
exactly once across a SIGKILL of a node (issues 14 and 15).

3 etcd members, 3 nodes of ours (2 partitions), one Tansu broker, the Kafka sink service. The tests share the
module's cluster and run in file order (the second kills n2 for good)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.node_link import KAFKA_ADOPTED, KafkaConflict, NodeLink
from restate.cluster.schema_history import AdoptedVersions, KafkaHistory
from restate.config import ClusterConfig, NodeAddresses
from restate.kafka.definitions import KafkaCluster, KafkaRegistry
from tests.cluster.conftest import run
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.kafka_broker import TansuBroker
from tests.support.services import ServiceProcess

CLUSTER = "test"
PARTITIONS = 2
TOPIC_PARTITIONS = 6  # two per node: Kafka gives each node's consumer some of them
KEYS = [f"key{i:02d}" for i in range(20)]
# A node that dies never committed what it read (no periodic commit): Kafka re-delivers all of it to the others.
OPTIONS = {"auto.offset.reset": "earliest", "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000",
           "auto.commit.interval.ms": "600000"}  # fmt: skip
WAIT_S = 90.0  # a group forming (or re-balancing) on Tansu takes seconds, more on a loaded machine: bounded


@dataclass
class KafkaCluster3:
    nodes: list[ClusterNode]
    broker: TansuBroker
    etcd: EtcdCluster
    produced: dict[str, list[str]]  # key -> the values produced so far, in order
    sub: str = ""

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def admin(self, node: ClusterNode, method: str, path: str, body: object = None) -> Any:
        answer = node.client.request(method, f"{node.admin_url}/{path}", json=body)
        assert answer.status_code < 300, (node.name, method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def events(self, node: ClusterNode, key: str) -> list[str]:
        answer = node.call(f"KObj/{key}/get")
        assert answer.status_code == 200, answer.text
        found: list[str] = answer.json()
        return found

    def consumed(self, node: ClusterNode) -> float:
        """The records this node's Kafka process read for the subscription (its admin's `/metrics`)."""
        text = node.client.get(f"{node.admin_url}/metrics").text
        prefix = f'restate_kafka_ingress_requests_total{{subscription="{self.sub}"'
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    def produce_round(self, round_no: int, prefix: str) -> None:
        records = [(key.encode(), f"{prefix}{round_no}-{key}".encode()) for key in KEYS]
        self.broker.produce("obj", records)
        for key, value in records:
            self.produced[key.decode()].append(value.decode())

    def check_exactly_once(self, through: ClusterNode) -> None:
        """Every key's events are exactly the values produced for it, in order: none lost, none twice."""
        for key in KEYS:
            wanted = self.produced[key]
            events = wait_for(lambda key=key: self.events(through, key), lambda e, w=wanted: len(e) >= len(w),  # type: ignore[misc]
                              f"{len(wanted)} events of {key}")  # fmt: skip
            assert events == wanted, key


def wait_for(probe: Callable[[], Any], done: Callable[[Any], bool], what: str, deadline_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}; last: {str(value)[:2000]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def kc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster3]:
    root = tmp_path_factory.mktemp("kafka-cluster")
    etcd = EtcdCluster(root / "etcd")
    service = ServiceProcess(root / "logs", "kafka_sinks", env={"SIDE_EFFECT_FILE": str(root / "side_effects")})
    broker = TansuBroker(root / "logs")
    nodes: list[ClusterNode] = []
    try:
        # Everything else listens before the nodes' ports are picked: no node gets a port they took meanwhile.
        etcd.start()
        broker.start()
        broker.create_topic("obj", TOPIC_PARTITIONS)
        service.start()
        _, nodes = write_cluster(root, etcd.endpoints, ["n1", "n2", "n3"], PARTITIONS, CLUSTER)
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready(60)
        nodes[0].register(service.url)
        yield KafkaCluster3(nodes, broker, etcd, {key: [] for key in KEYS})
    finally:
        for node in nodes:
            node.stop(5)
        service.stop()
        broker.stop()
        etcd.stop()


def test_a_subscription_made_through_one_node_is_listed_by_every_node_at_once(kc: KafkaCluster3) -> None:
    n1, n2, n3 = kc.nodes
    cluster = {"name": "tansu", "properties": {"bootstrap.servers": kc.broker.bootstrap}}
    kc.admin(n1, "POST", "kafka-clusters", cluster)
    for node in (n2, n3):  # answered once every live node serves it
        assert [c["name"] for c in kc.admin(node, "GET", "kafka-clusters")["clusters"]] == ["tansu"], node.name
    # A change through another node builds on it (the registry's next version, everywhere). Made before the
    # subscription exists: a cluster's change restarts its consumers, and Tansu re-forms a group slowly.
    properties = {"bootstrap.servers": kc.broker.bootstrap, "client.id": "restate-test"}
    kc.admin(n3, "PATCH", "kafka-clusters/tansu", {"properties": properties})
    for node in (n1, n2):
        assert kc.admin(node, "GET", "kafka-clusters/tansu")["properties"] == properties, node.name
    made = kc.admin(n1, "POST", "subscriptions",
                    {"source": "kafka://tansu/obj", "sink": "service://KObj/add", "options": OPTIONS})  # fmt: skip
    kc.sub = made["id"]
    for node in (n2, n3):
        listed = kc.admin(node, "GET", "subscriptions")["subscriptions"]
        assert listed == [made], node.name  # the same id and options: the same consumer group on every node
        assert kc.admin(node, "GET", f"subscriptions/{kc.sub}") == made
    assert made["options"]["group.id"] == kc.sub  # the single-node rule: the subscription's id


def test_every_node_consumes_and_a_sigkilled_node_loses_and_repeats_nothing(kc: KafkaCluster3) -> None:
    # Rounds of one record per key until each node's consumer has read some (the group spreads the topic's
    # partitions over the 3 nodes once each node's Kafka process joined it).
    deadline = time.monotonic() + WAIT_S
    for round_no in itertools.count():
        kc.produce_round(round_no, "a")
        if all(kc.consumed(node) > 0 for node in kc.nodes) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert all(kc.consumed(node) > 0 for node in kc.nodes), [kc.consumed(node) for node in kc.nodes]
    kc.check_exactly_once(kc.nodes[0])
    victim = kc.node("n2")
    survivors = [n for n in kc.nodes if n is not victim]
    before = kc.consumed(victim)
    for round_no in range(5):
        kc.produce_round(round_no, "b")
    # n2 has read some of these (and, committing only when a re-balance takes partitions away, committed none)
    victim_read = wait_for(lambda: kc.consumed(victim), lambda n: n > before, "n2 reading the next records")
    victim.kill()  # SIGKILL of every process of n2, mid-consumption
    for round_no in range(5, 10):
        kc.produce_round(round_no, "b")
    for node in survivors:
        kc.check_exactly_once(node)  # the group re-balanced n2's topic partitions to n1 and n3
    produced = sum(len(v) for v in kc.produced.values())
    survivors_read = sum(kc.consumed(node) for node in survivors)
    # What n2 read and did not commit was read again by n1 or n3: the partitions skipped those offsets
    assert survivors_read + victim_read > produced, (survivors_read, victim_read, produced)
    print(f"SIGKILL of a consuming node: {produced} records produced, n2 read {victim_read:.0f} before the kill, "
          f"n1 and n3 {survivors_read:.0f}; every key's events exact")  # fmt: skip


def test_deleting_the_subscription_through_another_node_stops_consumption_everywhere(kc: KafkaCluster3) -> None:
    n1, _, n3 = kc.nodes
    answer = n3.client.delete(f"{n3.admin_url}/subscriptions/{kc.sub}")
    assert answer.status_code == 202, answer.text
    assert kc.admin(n1, "GET", "subscriptions")["subscriptions"] == []  # answered once n1 adopted it
    for node in (n1, n3):  # no subscription left: each live node's supervisor stops its Kafka process
        wait_for(lambda node=node: (node.base_dir / "pids" / "kafka.pid").exists(), lambda exists: not exists,  # type: ignore[misc]
                 f"{node.name}'s Kafka process stopped", 30.0)  # fmt: skip
    kc.broker.produce("obj", [(key.encode(), b"after-delete") for key in KEYS])
    time.sleep(3.0)  # a consumer still running would turn these into invocations within this window
    for key in KEYS:
        assert kc.events(n1, key) == kc.produced[key], key


def _link(etcd: EtcdCluster, cluster_name: str, name: str) -> NodeLink:
    me = NodeAddresses(bus_address="127.0.0.1:1", ingress_address="127.0.0.1:2", admin_address="127.0.0.1:3")
    return NodeLink(ClusterConfig(node_name=name, cluster_name=cluster_name, etcd_endpoints=etcd.endpoints,
                                  nodes={name: me}))  # fmt: skip


def _registry(version: int, name: str) -> KafkaRegistry:
    return KafkaRegistry(version, {name: KafkaCluster(name, {"bootstrap.servers": f"{name}:9092"}, version)})


def test_a_concurrent_change_on_another_node_is_refused(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        n1, n2 = _link(etcd_cluster, cluster_name, "n1"), _link(etcd_cluster, cluster_name, "n2")
        try:
            mine, theirs = _registry(1, "a"), _registry(1, "b")
            await n1.publish_kafka(mine)
            await n1.publish_kafka(mine)  # a retry of the same write (its answer lost) is no conflict
            with pytest.raises(KafkaConflict, match="version 1 was written by another node"):
                await n2.publish_kafka(theirs)
            etcd = await Etcd.connect(etcd_cluster.endpoints)
            try:
                assert await KafkaHistory(etcd, Layout(cluster_name)).get(1) == mine  # the first writer's
            finally:
                await etcd.close()
        finally:
            await n1.close()
            await n2.close()

    run(main)


def test_a_node_seeds_an_empty_cluster_with_its_registry_and_adopts_newer_versions(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        n1, n2 = _link(etcd_cluster, cluster_name, "n1"), _link(etcd_cluster, cluster_name, "n2")
        etcd = await Etcd.connect(etcd_cluster.endpoints)
        served = {"n1": _registry(2, "own"), "n2": KafkaRegistry()}  # n1's registry from before the cluster's

        def follower(name: str) -> asyncio.Task[None]:
            async def adopt(registry: KafkaRegistry) -> None:
                served[name] = registry

            link = n1 if name == "n1" else n2
            return asyncio.create_task(link.adopt_kafka(lambda: served[name], adopt))

        async def adopted(version: int) -> None:
            while (await AdoptedVersions(etcd, Layout(cluster_name), KAFKA_ADOPTED).versions()) != {
                "n1": version, "n2": version
            }:  # fmt: skip
                await asyncio.sleep(0.02)

        tasks = [follower("n1")]
        try:
            await adopted_by(etcd, cluster_name, "n1", 2)
            assert await KafkaHistory(etcd, Layout(cluster_name)).get(2) == served["n1"]  # seeded
            tasks.append(follower("n2"))
            await adopted(2)
            assert served["n2"] == served["n1"]  # adopted at start
            await n2.publish_kafka(_registry(3, "next"))  # a change made through n2 ...
            await adopted(3)  # ... followed by n1 too (n2 announces the version it serves: its own)
            assert served["n1"] == _registry(3, "next")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await etcd.close()
            await n1.close()
            await n2.close()

    run(main)


async def adopted_by(etcd: Etcd, cluster_name: str, node: str, version: int) -> None:
    while (await AdoptedVersions(etcd, Layout(cluster_name), KAFKA_ADOPTED).versions()).get(node) != version:
        await asyncio.sleep(0.02)
