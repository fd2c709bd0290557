"""Ingress and admin in cluster mode: requests routed to each partition's leader, the schema and the Kafka
registry shared in etcd."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from restate import metrics
from restate.cluster.etcd_client import Etcd
from restate.cluster.etcd_records import NodeRecord
from restate.cluster.layout import Layout
from restate.cluster.leader_map import LeaderMap
from restate.cluster.leadership import Lease, PartitionTable
from restate.cluster.schema_history import AdoptedVersions, KafkaHistory, SchemaHistory, VersionHistory
from restate.config import ClusterConfig
from restate.ipc.partition_rpc import PartitionRpc
from restate.kafka.definitions import KafkaRegistry
from restate.schema import Schema

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0
ADOPTION_WAIT_S = 10.0  # how long a schema change waits for the other live nodes to serve it
ADOPTION_POLL_S = 0.02


async def for_ever(what: str, run: Callable[[], Awaitable[None]], pause_s: float = RETRY_PAUSE_S) -> None:
    """Runs `run` again whenever it fails (etcd unreachable for long, a lease lost): a node keeps serving
    what it can while etcd is away, and catches up when it is back; the failure is logged each time."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged, then tried again
            log.warning("%s failed (%s: %s); trying again in %.0fs", what, type(exc).__name__, exc, pause_s)
        await asyncio.sleep(pause_s)


class SchemaConflict(RuntimeError):
    """Another node's admin changed the schema at the same time: this change is refused (try again)."""


class KafkaConflict(SchemaConflict):
    """Another node's admin changed the Kafka registry at the same time: refused the same way (try again)."""


SCHEMA_ADOPTED, KAFKA_ADOPTED = "adopted", "kafka-adopted"  # meta/<what>/<node>: the version a node serves


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=_Versioned)


class NodeLink:
    """One etcd connection of an ingress or admin process: the leader map, and (admin) the schema."""

    def __init__(self, cluster: ClusterConfig) -> None:
        self.cluster = cluster
        self.layout = Layout(cluster.cluster_name)
        self._etcd: Etcd | None = None
        self._leaders_shown: dict[int, str] = {}  # partition -> the node the leader gauge names

    async def etcd(self) -> Etcd:
        if self._etcd is None:
            self._etcd = await Etcd.connect(self.cluster.etcd_endpoints)
        return self._etcd

    async def route_to_leaders(self, rpc: PartitionRpc) -> None:
        """Keeps `rpc` sending to each partition's current leader, for ever (run it as a task)."""
        await for_ever("following the partition leaders", lambda: self._route_to_leaders(rpc))

    async def _route_to_leaders(self, rpc: PartitionRpc) -> None:
        leaders = LeaderMap(await self.etcd(), self.layout, self.cluster.node_name, self.cluster.num_partitions)
        rpc.route = leaders.peer
        leaders.on_change.append(rpc.retarget)
        leaders.on_change.append(lambda partition, _: self._show_leader(partition, leaders.leaders[partition]))
        await leaders.follow()

    def _show_leader(self, partition: int, node: str) -> None:
        """The leader gauge (the dashboard's node column): 1 for the partition's leader, 0 for the one before."""
        label = str(partition)
        before = self._leaders_shown.get(partition)
        if before is not None and before != node:
            metrics.partition_leader.labels(label, before).set(0)
        metrics.partition_leader.labels(label, node).set(1)
        self._leaders_shown[partition] = node

    async def publish_schema(self, schema: Schema) -> None:
        """Makes a new schema version the cluster's (before any process of any node uses it)."""
        if not await SchemaHistory(await self.etcd(), self.layout).publish(schema):
            raise SchemaConflict(f"schema version {schema.version} was written by another node at the same time")

    async def publish_kafka(self, registry: KafkaRegistry) -> None:
        """Makes a new Kafka registry version the cluster's (before this node stores or uses it)."""
        if not await KafkaHistory(await self.etcd(), self.layout).publish(registry):
            raise KafkaConflict(
                f"Kafka registry version {registry.version} was written by another node at the same time"
            )

    async def announce_adopted(self, version: int, what: str = SCHEMA_ADOPTED) -> None:
        """Tells the cluster that this node serves `version` (of the schema: its ingress and partitions
        acknowledged it; of the Kafka registry, `KAFKA_ADOPTED`: its admin stored it and told its Kafka process)."""
        await AdoptedVersions(await self.etcd(), self.layout, what).announce(self.cluster.node_name, version)

    async def wait_adopted_everywhere(
        self, version: int, timeout_s: float = ADOPTION_WAIT_S, what: str = SCHEMA_ADOPTED
    ) -> list[str]:
        """Waits until every live node (on a membership lease) serves `version` (of `what`), so that a change
        answered here is visible through any node; returns the live nodes that still did not after
        `timeout_s` (logged: the change is durable and they adopt it once they can)."""
        etcd = await self.etcd()
        table, adopted = PartitionTable(etcd, self.layout), AdoptedVersions(etcd, self.layout, what)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            versions = await adopted.versions()
            behind = [n.name for n in await table.nodes() if versions.get(n.name, -1) < version]
            if not behind or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(ADOPTION_POLL_S)
        if behind:
            log.warning("%s version %d: nodes %s did not adopt it within %.0fs", what, version, behind, timeout_s)
        return behind

    async def adopt_schemas(self, current: Callable[[], Schema], adopt: Callable[[Schema], Awaitable[None]]) -> None:
        """Adopts every newer schema version another node's admin writes, for ever (run it as a task)."""
        await for_ever("following the cluster's schema", lambda: self._adopt(SchemaHistory, current, adopt,
                                                                           SCHEMA_ADOPTED))  # fmt: skip

    async def adopt_kafka(
        self, current: Callable[[], KafkaRegistry], adopt: Callable[[KafkaRegistry], Awaitable[None]]
    ) -> None:
        """Adopts every newer Kafka registry version another node's admin writes, for ever (run it as a task)."""
        what = "following the cluster's Kafka registry"
        await for_ever(what, lambda: self._adopt(KafkaHistory, current, adopt, KAFKA_ADOPTED, seed=True))

    async def _adopt(
        self, history: Callable[[Etcd, Layout], VersionHistory[V]], current: Callable[[], V],
        adopt: Callable[[V], Awaitable[None]], what: str, seed: bool = False,
    ) -> None:  # fmt: skip
        versions = history(await self.etcd(), self.layout)
        if seed and current().version > 0 and (await versions.latest())[0] is None:
            # A registry this node made before it was the cluster's (a node's own, from before): the first node
            # to start seeds the cluster with its own (another node's seed written first wins, and is adopted).
            await versions.publish(current())
        async for value in versions.follow():
            if value.version > current().version:
                log.info("adopting %s version %d from the cluster", type(value).__name__, value.version)
                await adopt(value)
            await self.announce_adopted(current().version, what)  # also on start: the version this node serves

    async def register_node(self) -> None:
        """Keeps this node in etcd's membership (`nodes/<name>`, on a lease of its own), for ever (a task)."""
        await for_ever("the node's membership", self._register_node)

    async def _register_node(self) -> None:
        etcd = await self.etcd()
        lease = await Lease.grant(etcd, self.cluster.lease_ttl_s)
        me = self.cluster.me
        record = NodeRecord(
            name=self.cluster.node_name,
            bus_address=me.bus_address,
            ingress_address=me.ingress_address,
            admin_address=me.admin_address,
        )
        await PartitionTable(etcd, self.layout).register_node(record, lease)
        await lease.keep_alive()

    async def close(self) -> None:
        if self._etcd is not None:
            await self._etcd.close()
