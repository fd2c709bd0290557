"""Placement of partition replicas (a replication factor below the node count), against real etcd: one
placement that every node reads, kept once written; only replica nodes claim; the trim waits for replicas only."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from restate.cluster.etcd_client import Etcd
from restate.cluster.etcd_records import NodeRecord
from restate.cluster.layout import Layout
from restate.cluster.leadership import Lease, PartitionTable
from restate.cluster.placement import ensure_placement, propose, read_placement, wait_membership_change
from restate.cluster.replica import Replica
from restate.cluster.replica_move import PlacementConflict, move_replica
from restate.cluster.replicated_log import LogItem
from restate.cluster.status import move_leader, read_status
from restate.config import ClusterConfig, NodeAddresses
from tests.cluster.conftest import run
from tests.support.etcd import EtcdCluster

NODES = ("n1", "n2", "n3")


def _config(
    etcd: EtcdCluster, cluster_name: str, node: str, factor: int = 2, partitions: int = 3, trim_every: int = 1000
) -> ClusterConfig:
    addresses = NodeAddresses(bus_address="127.0.0.1:1", ingress_address="127.0.0.1:2", admin_address="127.0.0.1:3")
    return ClusterConfig(
        node_name=node,
        cluster_name=cluster_name,
        etcd_endpoints=etcd.endpoints,
        num_partitions=partitions,
        replication_factor=factor,
        trim_every=trim_every,
        nodes=dict.fromkeys(NODES, addresses),
    )


async def _nothing(item: LogItem) -> None:
    raise AssertionError(f"nothing to apply: {item}")


def test_the_proposal_spreads_replicas_and_preferred_leaders_over_the_nodes() -> None:
    assert propose(["n3", "n1", "n2"], 4, 2) == [["n1", "n2"], ["n2", "n3"], ["n3", "n1"], ["n1", "n2"]]
    assert propose(["n1", "n2", "n3"], 2, 3) == [["n1", "n2", "n3"], ["n2", "n3", "n1"]]
    assert propose(["a"], 2, 1) == [["a"], ["a"]]
    with pytest.raises(ValueError):
        propose(["n1", "n2"], 1, 3)


def test_every_node_reads_the_first_writers_placement_and_it_never_changes(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        etcd = await Etcd.connect(etcd_cluster.endpoints)
        layout = Layout(cluster_name)
        try:
            assert await read_placement(etcd, layout) == {}
            # Nodes starting together: all propose at once, one write per partition wins, all agree.
            answers = await asyncio.gather(
                *(ensure_placement(etcd, layout, _config(etcd_cluster, cluster_name, n)) for n in NODES)
            )
            expected = {0: ["n1", "n2"], 1: ["n2", "n3"], 2: ["n3", "n1"]}
            assert answers == [expected] * 3
            # A later file with another factor does not move replicas (no snapshot could seed a new one).
            three = _config(etcd_cluster, cluster_name, "n1", factor=3)
            assert await ensure_placement(etcd, layout, three) == expected
            assert await read_placement(etcd, layout) == expected
        finally:
            await etcd.close()

    run(main)


def test_only_replicas_claim_and_the_trim_waits_for_replicas_only(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        # partition 1's replicas are n2 and n3; n1 holds none of it
        bystander, leader, follower = (Replica(_config(etcd_cluster, cluster_name, n, trim_every=2), 1) for n in NODES)
        assert not await bystander.connect()
        assert bystander.lease is None and bystander.log is None and not bystander.leading
        assert await leader.connect() and await follower.connect()
        assert leader.replicas == follower.replicas == ["n2", "n3"]
        assert leader.etcd is not None and leader.table is not None
        membership = await Lease.grant(leader.etcd, 60)  # n2 and n3 are live: their replicas count for the trim
        for node in ("n2", "n3"):
            record = NodeRecord(name=node, bus_address="", ingress_address="", admin_address="")
            await leader.table.register_node(record, membership)
        await leader.follow_until_leader(0, _nothing)
        for n in range(1, 6):
            await leader.append(b"e%d" % n)
        assert leader.table is not None and leader.log is not None
        await leader.table.report_applied(1, "n2", 5)
        assert await leader._trim(0) == 0  # n3 (a replica) has not reported
        await leader.table.report_applied(1, "n3", 3)
        assert await leader._trim(0) == 4  # n1 never reports (no replica): it does not hold the trim back
        status = await read_status(_config(etcd_cluster, cluster_name, ""))
        rows = [msgspec.structs.astuple(p) for p in status.partitions]
        assert rows[1] == (1, ["n2", "n3"], "n2", 1, 5, {"n2": 5, "n3": 3})
        assert (status.partitions[1].lag("n3"), status.partitions[1].lag("n1")) == (2, None)
        assert [p.replicas for p in status.partitions] == [["n1", "n2"], ["n2", "n3"], ["n3", "n1"]]
        assert leader.lease is not None
        await leader.table.register_node(NodeRecord(name="n1", bus_address="", ingress_address="", admin_address=""),
                                         leader.lease)  # fmt: skip
        with pytest.raises(ValueError, match="holds no replica of partition 1"):
            await move_leader(_config(etcd_cluster, cluster_name, ""), 1, "n1", 5.0)
        for replica in (bystander, leader, follower):
            await replica.close()

    run(main)


def test_move_replica_changes_the_placement_once_and_replicas_follow_the_change(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        config = _config(etcd_cluster, cluster_name, "")
        etcd = await Etcd.connect(etcd_cluster.endpoints)
        layout = Layout(cluster_name)
        try:
            await ensure_placement(etcd, layout, config)  # p0: n1, n2
            table = PartitionTable(etcd, layout)
            membership = await Lease.grant(etcd, 60)
            for node in ("n2", "n3"):  # n1 is dead
                await table.register_node(NodeRecord(name=node, bus_address="", ingress_address="", admin_address=""),
                                          membership)  # fmt: skip
            await table.report_applied(0, "n1", 7)
            await table.report_applied(0, "n2", 9)
            await table.report_applied(0, "n3", 2)  # a leftover of an earlier replica: the new one reports afresh
            with pytest.raises(ValueError, match="refusing to drop 'n2'"):
                await move_replica(config, 0, "n2", "n3", 5.0)  # n1 is not live: n2 is the only copy
            bystander, staying = ["n1", "n2"], ["n1", "n2"]
            n3_gains = asyncio.create_task(wait_membership_change(etcd, layout, 0, "n3", bystander))
            n2_stays = asyncio.create_task(wait_membership_change(etcd, layout, 0, "n2", staying))
            # Two operators at once: one transaction wins, the other is told nothing changed.
            outcomes = await asyncio.gather(
                move_replica(config, 0, "n1", "n3", 5.0), move_replica(config, 0, "n1", "n3", 5.0),
                return_exceptions=True,
            )  # fmt: skip
            assert sum(1 for o in outcomes if o == ["n3", "n2"]) == 1, outcomes
            loser = next(o for o in outcomes if isinstance(o, Exception))
            assert isinstance(loser, PlacementConflict | ValueError), loser
            assert (await read_placement(etcd, layout))[0] == ["n3", "n2"]
            assert await table.applied(0) == {"n2": 9}  # the removed replica no longer holds the trim back
            await asyncio.wait_for(n3_gains, 10)
            assert not n2_stays.done()
            for _ in range(100):  # the staying replica's list follows the change (its trim waits for n3)
                if staying == ["n3", "n2"]:
                    break
                await asyncio.sleep(0.05)
            assert staying == ["n3", "n2"]
            n2_stays.cancel()
            with pytest.raises(ValueError, match="'n3' already holds a replica"):
                await move_replica(config, 0, "n2", "n3", 5.0)
            with pytest.raises(ValueError, match="'n1' holds no replica of partition 0"):
                await move_replica(config, 0, "n1", "n2", 5.0)
        finally:
            await etcd.close()

    run(main)
