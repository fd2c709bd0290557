"""A partition's replica against real etcd: it leads when nobody does, follows and applies in order
otherwise, takes over (epoch + 1, caught up) when the leader resigns, and trims what all live replicas applied."""

from __future__ import annotations

import asyncio

import pytest

from restate.cluster.etcd_records import NodeRecord
from restate.cluster.leadership import Lease
from restate.cluster.replica import LogGap, Replica
from restate.cluster.replicated_log import Fenced, LogItem
from restate.config import ClusterConfig, NodeAddresses
from tests.cluster.conftest import run
from tests.support.etcd import EtcdCluster

ADDRESSES = NodeAddresses(bus_address="127.0.0.1:1", ingress_address="127.0.0.1:2", admin_address="127.0.0.1:3")


def _config(etcd: EtcdCluster, cluster_name: str, node: str, trim_every: int = 1000) -> ClusterConfig:
    return ClusterConfig(
        node_name=node,
        cluster_name=cluster_name,
        etcd_endpoints=etcd.endpoints,
        num_partitions=1,
        trim_every=trim_every,
        nodes={"n1": ADDRESSES, "n2": ADDRESSES},
    )


async def _live(replica: Replica, node: str) -> Lease:
    """Makes `node` a live member (`nodes/<node>` on a lease of its own, as its admin keeps it)."""
    assert replica.etcd is not None and replica.table is not None
    lease = await Lease.grant(replica.etcd, 60)  # outlives the test: no keep-alive needed
    record = NodeRecord(
        name=node, bus_address="127.0.0.1:1", ingress_address="127.0.0.1:2", admin_address="127.0.0.1:3"
    )
    await replica.table.register_node(record, lease)
    return lease


def test_a_follower_applies_in_order_and_takes_over_caught_up(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        leader, follower = (Replica(_config(etcd_cluster, cluster_name, n), 0) for n in ("n1", "n2"))
        await leader.connect()
        await follower.connect()

        async def ignore(item: LogItem) -> None:
            raise AssertionError(f"nothing to apply yet: {item}")

        await leader.follow_until_leader(0, ignore)  # nobody leads: it claims at once
        assert (leader.leading, leader.epoch, leader.next_lsn) == (True, 1, 1)
        applied: list[bytes] = []

        async def apply(item: LogItem) -> None:
            applied.append(item.entry)

        takeover = asyncio.create_task(follower.follow_until_leader(0, apply))
        for n in range(1, 6):
            assert await leader.append(b"e%d" % n) == n
        while len(applied) < 5:  # the follower tails them
            await asyncio.sleep(0.01)
        assert not takeover.done()
        await leader.close()  # resigns: the follower claims at once
        await asyncio.wait_for(takeover, 5)
        assert applied == [b"e%d" % n for n in range(1, 6)]
        assert (follower.epoch, follower.next_lsn) == (2, 6)
        with pytest.raises(Fenced):
            await leader.log.append(1, 6, b"late")  # type: ignore[union-attr]
        assert await follower.append(b"e6") == 6
        await follower.close()

    run(main)


def test_the_leader_trims_what_every_live_replica_applied(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        leader = Replica(_config(etcd_cluster, cluster_name, "n1", trim_every=2), 0)
        await leader.connect()
        await _live(leader, "n1")
        n2 = await _live(leader, "n2")

        async def nothing(item: LogItem) -> None:
            raise AssertionError(item)

        await leader.follow_until_leader(0, nothing)
        for n in range(1, 6):
            await leader.append(b"e%d" % n)
        assert leader.table is not None and leader.log is not None
        await leader.table.report_applied(0, "n1", 5)
        assert await leader._trim(0) == 0  # n2 is live and never reported: nothing goes
        await leader.table.report_applied(0, "n2", 3)
        assert await leader._trim(0) == 4
        items, _ = await leader.log.read(1)
        assert [i.lsn for i in items] == [4, 5]
        assert await leader._trim(4) == 4  # less than trim-every more applied: wait
        for n in range(6, 9):
            await leader.append(b"e%d" % n)
        await leader.table.report_applied(0, "n1", 8)
        assert await leader._trim(4) == 4  # n2 (live) applied 3: it holds the log back
        await n2.revoke()  # n2 is gone: it will need a snapshot, and holds nothing back
        assert await leader._trim(4) == 8
        items, _ = await leader.log.read(1)
        assert [i.lsn for i in items] == [8] and await leader.log.trim_point() == 8
        await leader.close()

    run(main)


def test_appends_in_flight_land_in_order_and_the_trim_stays_below_the_applied(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        leader = Replica(_config(etcd_cluster, cluster_name, "n1", trim_every=1), 0)
        await leader.connect()
        await _live(leader, "n1")
        await _live(leader, "n2")

        async def nothing(item: LogItem) -> None:
            raise AssertionError(item)

        await leader.follow_until_leader(0, nothing)
        started = [leader.start_append(b"e%d" % n) for n in range(1, 9)]  # none awaited yet
        assert [lsn for lsn, _ in started] == list(range(1, 9))
        await asyncio.gather(*(task for _, task in started))
        assert leader.log is not None and leader.table is not None
        items, _ = await leader.log.read(1)
        assert [(i.lsn, i.entry) for i in items] == [(n, b"e%d" % n) for n in range(1, 9)]
        leader.applied(5)  # 6..8 acknowledged, not yet committed by the partition
        for node in ("n1", "n2"):
            await leader.table.report_applied(0, node, 8)
        assert await leader._trim(0) == 5  # LSN 5 stays: an append in flight may need it
        await leader.close()

    run(main)


def test_a_deposed_leaders_appends_in_flight_all_fail(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        leader, other = (Replica(_config(etcd_cluster, cluster_name, n), 0) for n in ("n1", "n2"))
        await leader.connect()
        await other.connect()

        async def nothing(item: LogItem) -> None:
            raise AssertionError(item)

        await leader.follow_until_leader(0, nothing)
        assert await leader.append(b"e1") == 1
        assert leader.table is not None and other.lease is not None
        await leader.table.resign(0, leader.epoch)
        assert await other.table.claim(0, "n2", other.lease) == 2  # type: ignore[union-attr]
        started = [leader.start_append(b"late%d" % n) for n in range(3)]
        results = await asyncio.gather(*(task for _, task in started), return_exceptions=True)
        assert all(isinstance(r, Fenced) and r.current == 2 for r in results), results
        assert leader.log is not None and await leader.log.last_lsn() == 1
        await other.close()
        await leader.close()

    run(main)


def test_a_follower_that_finds_a_trimmed_gap_fails_at_once(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    """Its node was not live while the log was trimmed past it: following fails while the leader still
    leads (the process restarts and installs a snapshot), instead of stalling until the leader is gone."""

    async def main() -> None:
        leader, follower = (Replica(_config(etcd_cluster, cluster_name, n, trim_every=1), 0) for n in ("n1", "n2"))
        await leader.connect()
        await follower.connect()
        await _live(leader, "n1")  # n2 is not live: it holds nothing back

        async def nothing(item: LogItem) -> None:
            raise AssertionError(item)

        await leader.follow_until_leader(0, nothing)
        assert leader.lease is not None and leader.table is not None
        keep_alive = asyncio.create_task(leader.lease.keep_alive())  # it keeps leading throughout
        for n in range(1, 6):
            await leader.append(b"e%d" % n)
        await leader.table.report_applied(0, "n1", 5)
        assert await leader._trim(0) == 5
        applied: list[int] = []

        async def apply(item: LogItem) -> None:
            applied.append(item.lsn)

        with pytest.raises(LogGap, match="log entry 5 after 0"):
            await asyncio.wait_for(follower.follow_until_leader(0, apply), 10)
        assert applied == [] and (await leader.table.state(0)).leader == "n1"
        keep_alive.cancel()
        await follower.close()
        await leader.close()

    run(main)
