"""The replicated log and leadership against a real 3-member etcd cluster: fencing, claims, tailing, chunks, trim."""

from __future__ import annotations

import asyncio
import time

import pytest

from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import Lease, LeaseLost, PartitionTable
from restate.cluster.replicated_log import Fenced, LogItem, PreviousMissing, ReplicatedLog
from tests.cluster.conftest import run
from tests.support.etcd import EtcdCluster


async def _connect(cluster: EtcdCluster) -> Etcd:
    return await Etcd.connect(cluster.endpoints)


async def _leader(etcd: Etcd, layout: Layout, partition: int, node: str) -> tuple[Lease, int]:
    lease = await Lease.grant(etcd)
    epoch = await PartitionTable(etcd, layout).claim(partition, node, lease)
    assert epoch is not None
    return lease, epoch


def test_appends_are_read_back_in_order(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0)
        assert await log.last_lsn() == 0
        for lsn in range(1, 11):
            await log.append(epoch, lsn, f"entry {lsn}".encode())
        assert await log.last_lsn() == 10
        items, _ = await log.read(4, limit=3)
        assert items == [LogItem(lsn, epoch, f"entry {lsn}".encode()) for lsn in (4, 5, 6)]
        other = ReplicatedLog(etcd, layout, 1)  # partitions have logs of their own
        assert await other.last_lsn() == 0
        await etcd.close()

    run(main)


def test_a_claim_bumps_the_epoch_and_the_deposed_leaders_append_fails(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        table = PartitionTable(etcd, layout)
        old_lease, old_epoch = await _leader(etcd, layout, 2, "n1")
        assert old_epoch == 1
        second = await Lease.grant(etcd)
        assert await table.claim(2, "n2", second) is None  # held: no claim
        log = ReplicatedLog(etcd, layout, 2)
        await log.append(old_epoch, 1, b"a")
        await old_lease.revoke()  # n1's lease is gone (as when it expires): the leader key goes with it
        await table.wait_vacant(2)
        new_epoch = await table.claim(2, "n2", second)
        assert new_epoch == 2
        assert await table.state(2) == type(await table.state(2))(2, 2, "n2")
        with pytest.raises(Fenced) as fenced:
            await log.append(old_epoch, 2, b"stale")
        assert (fenced.value.epoch, fenced.value.current) == (1, 2)
        await log.append(new_epoch, 2, b"b")
        items, _ = await log.read(1)
        assert [(i.lsn, i.epoch, i.entry) for i in items] == [(1, 1, b"a"), (2, 2, b"b")]
        await etcd.close()

    run(main)


def test_a_retried_append_is_not_duplicated_and_an_lsn_is_written_once(
    etcd_cluster: EtcdCluster, cluster_name: str
) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0)
        await log.append(epoch, 1, b"once")
        await log.append(epoch, 1, b"once")  # its answer was lost and it is sent again: fine, no second entry
        with pytest.raises(Fenced):
            await log.append(epoch, 1, b"other")  # a different entry at a written LSN is refused
        items, _ = await log.read(1)
        assert [(i.lsn, i.entry) for i in items] == [(1, b"once")]
        await etcd.close()

    run(main)


def test_a_lease_that_is_not_kept_alive_frees_the_partition(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        table = PartitionTable(etcd, layout)
        lease = await Lease.grant(etcd, ttl_s=1)
        assert await table.claim(0, "n1", lease) == 1
        started = time.monotonic()
        await table.wait_vacant(0)  # nobody refreshes the lease (a stopped leader): etcd expires it
        waited = time.monotonic() - started
        assert 0.5 < waited < 5.0, waited
        with pytest.raises(LeaseLost):
            await lease.keep_alive()  # the stopped leader wakes up: its lease is gone
        assert await table.claim(0, "n2", await Lease.grant(etcd)) == 2
        await etcd.close()

    run(main)


def test_a_kept_alive_lease_holds_the_partition(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        table = PartitionTable(etcd, layout)
        lease = await Lease.grant(etcd, ttl_s=2)
        keeper = asyncio.create_task(lease.keep_alive())
        assert await table.claim(0, "n1", lease) == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(table.wait_vacant(0), 4.0)  # two TTLs: still held
        keeper.cancel()
        await table.resign(0, 1)
        await asyncio.wait_for(table.wait_vacant(0), 1.0)  # resigned: vacant at once
        await etcd.close()

    run(main)


def test_a_tail_follows_appends_in_order(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0)
        for lsn in range(1, 4):
            await log.append(epoch, lsn, b"%d" % lsn)
        follower = await _connect(etcd_cluster)
        seen: list[int] = []
        done = asyncio.Event()

        async def follow() -> None:
            async for item in ReplicatedLog(follower, layout, 0).tail(2):
                assert item.entry == b"%d" % item.lsn
                seen.append(item.lsn)
                if item.lsn == 40:
                    done.set()

        task = asyncio.create_task(follow())
        for lsn in range(4, 41):
            await log.append(epoch, lsn, b"%d" % lsn)
        await asyncio.wait_for(done.wait(), 10)
        task.cancel()
        assert seen == list(range(2, 41))
        await follower.close()
        await etcd.close()

    run(main)


def test_a_large_entry_is_written_in_chunks_and_read_whole(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0, chunk_bytes=1000)
        big = bytes(range(256)) * 14  # 3584 bytes: 4 chunks
        await log.append(epoch, 1, big)
        await log.append(epoch, 2, b"small")
        chunks = await etcd.range(layout.chunk_prefix(0, 1), layout.chunk_prefix(0, 2))
        assert len(chunks.kvs) == 4
        items, _ = await log.read(1)
        assert [(i.lsn, i.entry) for i in items] == [(1, big), (2, b"small")]
        # Beyond etcd's request limit (2 MiB in these tests) with the default chunk size.
        huge = bytes(3 * 1024 * 1024 + 5)
        default = ReplicatedLog(etcd, layout, 0)
        await default.append(epoch, 3, huge)
        assert (await default.read(3))[0][0].entry == huge
        await etcd.close()

    run(main)


def test_trim_removes_entries_and_chunks_below_a_point(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0, chunk_bytes=10)
        for lsn in range(1, 6):
            await log.append(epoch, lsn, b"entry number %d" % lsn)  # 2 chunks each
        await log.trim(4)
        assert await log.trim_point() == 4
        items, _ = await log.read(1)
        assert [i.lsn for i in items] == [4, 5]
        chunk_start, _ = layout.chunks_below(0, 0)
        remaining = await etcd.range(chunk_start, layout.chunk_prefix(0, 6))
        assert len(remaining.kvs) == 4  # the chunks of 4 and 5 only
        await log.trim(6)
        assert await log.last_lsn() == 5  # empty now, and the next LSN stays 6
        await etcd.close()

    run(main)


def test_replica_progress_is_reported_per_node(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        table = PartitionTable(etcd, Layout(cluster_name))
        await table.report_applied(1, "n1", 7)
        await table.report_applied(1, "n2", 5)
        await table.report_applied(10, "n1", 99)  # another partition (1 is a prefix of 10)
        assert await table.applied(1) == {"n1": 7, "n2": 5}
        await etcd.close()

    run(main)


def test_appends_continue_when_an_etcd_member_is_killed(own_etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    cluster = own_etcd_cluster

    async def main() -> list[float]:
        etcd = await _connect(cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0)
        latencies = []
        for lsn in range(1, 101):
            if lsn == 30:
                cluster.kill(cluster.members[0])
            if lsn == 60:
                cluster.kill(cluster.members[1])  # majority lost: appends wait ...
                restart = asyncio.get_running_loop().run_in_executor  # ... until it is back:
                asyncio.get_running_loop().call_later(1.0, restart, None, cluster.restart, cluster.members[1])
            started = time.monotonic()
            await log.append(epoch, lsn, b"%d" % lsn)
            latencies.append(time.monotonic() - started)
        items, _ = await log.read(1, limit=1000)
        assert [i.entry for i in items] == [b"%d" % n for n in range(1, 101)]
        await etcd.close()
        return latencies

    latencies = run(main)
    assert max(latencies[:29]) < 1.0
    assert max(latencies[30:59]) < 1.0  # one member down: no effect beyond latency


def test_an_append_after_one_in_flight_needs_that_entry(etcd_cluster: EtcdCluster, cluster_name: str) -> None:
    """With several appends in flight, etcd may commit them in any order: an append made while the one
    before it was unacknowledged requires that entry, so a failed append never leaves a gap."""

    async def main() -> None:
        etcd = await _connect(etcd_cluster)
        layout = Layout(cluster_name)
        _, epoch = await _leader(etcd, layout, 0, "n1")
        log = ReplicatedLog(etcd, layout, 0)
        await log.append(epoch, 1, b"a")
        with pytest.raises(PreviousMissing):
            await log.append(epoch, 3, b"c", after_previous=True)  # LSN 2 is missing
        assert await log.last_lsn() == 1
        await log.append(epoch, 2, b"b", after_previous=True)
        await log.append(epoch, 3, b"c", after_previous=True)
        await log.append(epoch, 3, b"c", after_previous=True)  # a retry whose first answer was lost
        items, _ = await log.read(1)
        assert [(i.lsn, i.entry) for i in items] == [(1, b"a"), (2, b"b"), (3, b"c")]
        await etcd.close()

    run(main)
