"""What `restate cluster status` shows, read from etcd (live nodes, and per partition its replicas, leader,
epoch, last LSN and how far each replica has applied), and `restate cluster move-leader`."""

from __future__ import annotations

import asyncio

import msgspec

from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import PartitionState, PartitionTable
from restate.cluster.placement import read_placement
from restate.cluster.replicated_log import ReplicatedLog
from restate.config import ClusterConfig


class NodeStatus(msgspec.Struct, frozen=True):
    name: str
    alive: bool  # its membership key exists (its lease is kept alive)
    bus_address: str
    ingress_address: str
    admin_address: str


class PartitionStatus(msgspec.Struct, frozen=True):
    partition: int
    replicas: list[str]  # the nodes holding a replica (empty: not placed yet, no node started)
    leader: str | None
    epoch: int
    last_lsn: int
    applied: dict[str, int]  # replica node -> last LSN it applied (reported once a second)

    def lag(self, node: str) -> int | None:
        """How many entries the node's replica is behind the log; None for a node without a replica, or
        one that has not reported yet."""
        applied = self.applied.get(node)
        return None if applied is None or node not in self.replicas else max(0, self.last_lsn - applied)


class ClusterStatus(msgspec.Struct, frozen=True):
    cluster_name: str
    nodes: list[NodeStatus]
    partitions: list[PartitionStatus]


async def read_status(
    cluster: ClusterConfig, request_timeout_s: float = 1.0, retry_for_s: float = 3.0
) -> ClusterStatus:
    """The cluster's state as etcd has it (EtcdUnavailable when etcd does not answer in `retry_for_s`)."""
    etcd = await Etcd.connect(cluster.etcd_endpoints, request_timeout_s, retry_for_s)
    try:
        layout = Layout(cluster.cluster_name)
        table = PartitionTable(etcd, layout)
        alive = {n.name for n in await table.nodes()}
        nodes = [
            NodeStatus(name, name in alive, a.bus_address, a.ingress_address, a.admin_address)
            for name, a in sorted(cluster.nodes.items())
        ]
        placement = await read_placement(etcd, layout)
        partitions = []
        for p in range(cluster.num_partitions):
            state = await table.state(p)
            last = await ReplicatedLog(etcd, layout, p).last_lsn()
            replicas = placement.get(p, [])
            applied = {node: lsn for node, lsn in (await table.applied(p)).items() if node in replicas}
            partitions.append(PartitionStatus(p, replicas, state.leader, state.epoch, last, applied))
        return ClusterStatus(cluster.cluster_name, nodes, partitions)
    finally:
        await etcd.close()


async def move_leader(cluster: ClusterConfig, partition: int, node: str, timeout_s: float) -> PartitionState:
    """Asks the partition's leader to hand over to `node` and waits until `node` leads it (its new state);
    ValueError when `node` is not alive, TimeoutError when it did not take over in time."""
    etcd = await Etcd.connect(cluster.etcd_endpoints, retry_for_s=min(timeout_s, 15.0))
    try:
        table = PartitionTable(etcd, Layout(cluster.cluster_name))
        if node not in {n.name for n in await table.nodes()}:
            raise ValueError(f"node {node!r} is not alive (no membership key in etcd)")
        replicas = (await read_placement(etcd, table.layout)).get(partition, [])
        if node not in replicas:
            raise ValueError(f"node {node!r} holds no replica of partition {partition} (replicas: {replicas})")
        state = await table.state(partition)
        if state.leader == node:
            return state
        await table.request_handover(partition, node)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (state := await table.state(partition)).leader != node:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{node} did not take partition {partition} over in {timeout_s:.0f}s: {state}")
            await asyncio.sleep(0.05)
        return state
    finally:
        await etcd.close()
