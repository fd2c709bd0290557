"""Which nodes hold a replica of each partition: proposed from the cluster file, written to etcd by the first writer."""

from __future__ import annotations

import logging

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end
from restate.config import ClusterConfig

log = logging.getLogger(__name__)


def propose(nodes: list[str], num_partitions: int, factor: int) -> list[list[str]]:
    """Partition p's replicas: `factor` consecutive nodes in name order from the p-th one (wrapping), so
    the replicas and the first replica of each partition (the preferred leader) spread over the nodes."""
    if not 1 <= factor <= len(nodes):
        raise ValueError(f"replication factor {factor} with {len(nodes)} nodes")
    ordered = sorted(nodes)
    return [[ordered[(p + i) % len(ordered)] for i in range(factor)] for p in range(num_partitions)]


async def read_placement(etcd: Etcd, layout: Layout) -> dict[int, list[str]]:
    """The placement stored in etcd (partitions not placed yet are missing)."""
    prefix = layout.placement_prefix()
    answer = await etcd.range(prefix, prefix_end(prefix))
    return {int(kv.key[len(prefix) :]): records.decode(records.PlacementRecord, kv.value).replicas for kv in answer.kvs}


async def ensure_placement(etcd: Etcd, layout: Layout, cluster: ClusterConfig) -> dict[int, list[str]]:
    """Every partition's replicas as etcd has them, writing this file's proposal for those not placed yet
    (a transaction per partition that only creates: when nodes start together, the first writer wins and
    everybody reads its answer). A placement, once written, never changes: a later cluster file with
    another factor or other nodes does not move replicas; only `restate cluster move-replica` changes it."""
    placement = await read_placement(etcd, layout)
    proposal = propose(list(cluster.nodes), cluster.num_partitions, cluster.replication_factor)
    t = etcd.txn
    for partition in range(cluster.num_partitions):
        if partition in placement:
            continue
        key = layout.placement(partition)
        value = records.encode(records.PlacementRecord(replicas=proposal[partition]))
        ok, answers = await etcd.transaction(
            compare=[t.create(key) == 0], success=[t.put(key, value)], failure=[t.get(key)]
        )
        placement[partition] = (
            proposal[partition] if ok else records.decode(records.PlacementRecord, answers[0][0][0]).replicas
        )
    for partition, replicas in sorted(placement.items()):
        unknown = [node for node in replicas if node not in cluster.nodes]
        if unknown:
            log.warning("partition %d: replicas %s are not in the cluster file", partition, unknown)
    return placement


async def wait_membership_change(etcd: Etcd, layout: Layout, partition: int, node: str, replicas: list[str]) -> None:
    """Follows `placement/P` (`restate cluster move-replica` changes it) and returns once `node` gained or
    lost its replica there. Every change updates `replicas` in place (the leader's trim then waits for the
    new set)."""
    key = layout.placement(partition)
    while True:
        answer = await etcd.range(key, key + b"\0")
        for kv in answer.kvs:
            if _moved(records.decode(records.PlacementRecord, kv.value).replicas, node, replicas):
                return
        watch = await etcd.watch(key, key + b"\0", int(answer.header.revision) + 1)
        try:
            async for event in watch:
                if event.kind == "PUT" and _moved(
                    records.decode(records.PlacementRecord, event.kv.value).replicas, node, replicas
                ):
                    return
        except Exception as exc:  # noqa: BLE001 - a broken watch: look again
            log.info("partition %d: placement watch failed (%s); looking again", partition, exc)
        finally:
            await watch.cancel()


def _moved(new: list[str], node: str, replicas: list[str]) -> bool:
    """Whether `node` gained or lost its replica; `replicas` becomes `new` either way."""
    moved = (node in new) != (node in replicas)
    if new != replicas:
        log.info("replicas %s -> %s", replicas, new)
        replicas[:] = new
    return moved
