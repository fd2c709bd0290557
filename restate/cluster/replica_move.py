"""`restate cluster move-replica`: a partition's replica moved from one node to another (placement changed in etcd)."""

from __future__ import annotations

import asyncio
import logging

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import PartitionTable
from restate.cluster.placement import read_placement
from restate.cluster.replicated_log import ReplicatedLog
from restate.cluster.status import move_leader
from restate.config import ClusterConfig

log = logging.getLogger(__name__)

ATTEMPTS = 5  # the transaction is retried when only the leadership changed under it (bounded)


class PlacementConflict(RuntimeError):
    """The partition's placement changed between our read and our transaction (another operator's move)."""


def plan_move(
    partition: int,
    replicas: list[str],
    source: str,
    target: str,
    live: set[str],
    applied: dict[str, int],
    trim_point: int,
) -> tuple[list[str], list[str]]:
    """The partition's new replicas (`target` in `source`'s place, so the preferred order is kept) and the
    remaining replicas that are caught up (live, and the log still holds everything after what they applied:
    a new replica can copy its shard from them). ValueError, saying why, when the move is not allowed."""
    if source == target:
        raise ValueError(f"--from and --to name the same node ({source!r})")
    if not replicas:
        raise ValueError(f"partition {partition} is not placed yet (no node has started)")
    if source not in replicas:
        raise ValueError(f"node {source!r} holds no replica of partition {partition} (replicas: {', '.join(replicas)})")
    if target in replicas:
        raise ValueError(
            f"node {target!r} already holds a replica of partition {partition} (replicas: {', '.join(replicas)})"
        )
    if target not in live:
        raise ValueError(f"node {target!r} is not alive (no membership key in etcd): it could not copy the shard")
    caught_up = [n for n in replicas if n != source and n in live and applied.get(n, -1) + 1 >= trim_point]
    if not caught_up:
        raise ValueError(
            f"refusing to drop {source!r}: no other replica of partition {partition} is live and caught up"
            f" (replicas: {', '.join(replicas)}, live: {', '.join(sorted(live)) or 'none'}, applied: {applied},"
            f" log trimmed below {trim_point}); it is the only copy the new replica could start from"
        )
    return [target if n == source else n for n in replicas], caught_up


async def move_replica(cluster: ClusterConfig, partition: int, source: str, target: str, timeout_s: float) -> list[str]:
    """Moves the partition's replica from `source` to `target` and returns the new replicas. When `source`
    leads the partition, its leadership first moves to a caught-up remaining replica (the hand-over of
    `move-leader`), so no acknowledged entry depends on the replica that goes. The change is one etcd
    transaction comparing the placement's previous value (PlacementConflict when another move won) and the
    leader key's revision (the leadership did not come back to `source` meanwhile); it also deletes both
    nodes' `applied/P/<node>` keys (the trim must not wait for the removed replica, and waits for the new
    one's first report). Each node's partition process sees the change (a watch on `placement/P`) and
    restarts in its new role: the new replica follows from the log or installs a snapshot."""
    etcd = await Etcd.connect(cluster.etcd_endpoints, retry_for_s=min(timeout_s, 15.0))
    try:
        layout = Layout(cluster.cluster_name)
        table = PartitionTable(etcd, layout)
        key, t = layout.placement(partition), etcd.txn
        for _ in range(ATTEMPTS):
            found = await etcd.get(key)
            replicas = [] if found is None else records.decode(records.PlacementRecord, found.value).replicas
            live = {n.name for n in await table.nodes()}
            applied = await table.applied(partition)
            trim_point = await ReplicatedLog(etcd, layout, partition).trim_point()
            new, caught_up = plan_move(partition, replicas, source, target, live, applied, trim_point)
            assert found is not None  # placed: plan_move refuses an empty placement
            previous = bytes(found.value)
            if (await table.state(partition)).leader == source:
                log.info("partition %d: %s leads it; handing over to %s first", partition, source, caught_up[0])
                await move_leader(cluster, partition, caught_up[0], timeout_s)
            leader = await etcd.get(layout.leader(partition))
            leader_unchanged = (
                t.create(layout.leader(partition)) == 0
                if leader is None
                else t.mod(layout.leader(partition)) == leader.mod_revision
            )
            if leader is not None and records.decode(records.LeaderRecord, leader.value).node == source:
                continue  # it claimed the partition again (the leader we handed over to died): start over
            ok, _ = await etcd.transaction(
                compare=[t.value(key) == previous, leader_unchanged],
                success=[
                    t.put(key, records.encode(records.PlacementRecord(replicas=new))),
                    t.delete(layout.applied(partition, source)),
                    t.delete(layout.applied(partition, target)),
                ],
                failure=[],
            )
            if ok:
                log.info("partition %d: replicas %s -> %s", partition, replicas, new)
                return new
            now = await etcd.get(key)
            if now is None or bytes(now.value) != previous:
                current = [] if now is None else records.decode(records.PlacementRecord, now.value).replicas
                raise PlacementConflict(
                    f"the replicas of partition {partition} changed meanwhile (another move?): now"
                    f" {', '.join(current)}; nothing was changed by this command"
                )
            await asyncio.sleep(0.1)  # only the leadership moved: read again and retry
        raise PlacementConflict(f"partition {partition}: its leadership kept changing; nothing was changed, try again")
    finally:
        await etcd.close()


async def replace_dead_replica(
    etcd: Etcd, layout: Layout, partition: int, epoch: int, leader: str, dead: str, live: set[str]
) -> list[str] | None:
    """The leader's automatic move (`replace-dead-node-after`): the replica of `dead` goes to the live node
    without a replica of `partition` that holds the fewest replicas overall (then by name). One transaction
    comparing the placement and the leader's epoch (a deposed leader moves nothing); the new replicas, or
    None when no node can take it or the transaction lost (the next round looks again)."""
    key, t = layout.placement(partition), etcd.txn
    found = await etcd.get(key)
    if found is None:
        return None
    replicas = records.decode(records.PlacementRecord, found.value).replicas
    held = list((await read_placement(etcd, layout)).values())
    candidates = sorted((n for n in live if n not in replicas), key=lambda n: (sum(n in r for r in held), n))
    if not candidates or dead not in replicas or dead in live:
        return None
    # The leader is caught up (it applied everything it appended): the new replica copies from it.
    new, _ = plan_move(partition, replicas, dead, candidates[0], live, {leader: 0}, 1)
    ok, _ = await etcd.transaction(
        compare=[t.value(key) == bytes(found.value), t.value(layout.epoch(partition)) == records.encode_int(epoch)],
        success=[
            t.put(key, records.encode(records.PlacementRecord(replicas=new))),
            t.delete(layout.applied(partition, dead)),
            t.delete(layout.applied(partition, candidates[0])),
        ],
        failure=[],
    )
    if not ok:
        return None
    log.warning("partition %d: %s dead too long: its replica moved to %s (%s)", partition, dead, candidates[0], new)
    return new
