"""Who leads each partition: leases kept alive, claims that bump the epoch, the partition table, membership."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end

log = logging.getLogger(__name__)

LEASE_TTL_S = 2  # etcd's minimum lease TTL with its default election timeout (1 s)


class LeaseLost(Exception):
    """The lease expired before it was refreshed (the holder was stopped, or cut off from etcd)."""


class Lease:
    """An etcd lease kept alive three times per TTL by `keep_alive` (run it as a task)."""

    def __init__(self, etcd: Etcd, lease_id: int, ttl_s: int) -> None:
        self.etcd = etcd
        self.id = lease_id
        self.ttl_s = ttl_s

    @classmethod
    async def grant(cls, etcd: Etcd, ttl_s: int = LEASE_TTL_S) -> Lease:
        return cls(etcd, await etcd.grant_lease(ttl_s), ttl_s)

    async def keep_alive(self) -> None:
        """Refreshes until cancelled; raises LeaseLost once etcd says the lease is gone (the keys
        attached to it are deleted then, so whoever held them must stop acting on them)."""
        while True:
            if await self.etcd.refresh_lease(self.id) <= 0:
                raise LeaseLost(f"lease {self.id:x} expired")
            await asyncio.sleep(self.ttl_s / 3)

    async def revoke(self) -> None:
        await self.etcd.revoke_lease(self.id)


class PartitionState(msgspec.Struct, frozen=True):
    """A row of the partition table: its epoch and its leader (None while nobody holds the lease)."""

    partition: int
    epoch: int
    leader: str | None


class PartitionTable:
    """Leadership of the partitions and membership of the nodes, in etcd (docs/cluster.md)."""

    def __init__(self, etcd: Etcd, layout: Layout) -> None:
        self.etcd = etcd
        self.layout = layout

    async def state(self, partition: int) -> PartitionState:
        epoch_kv = await self.etcd.get(self.layout.epoch(partition))
        leader_kv = await self.etcd.get(self.layout.leader(partition))
        epoch = 0 if epoch_kv is None else records.decode_int(epoch_kv.value)
        leader = None if leader_kv is None else records.decode(records.LeaderRecord, leader_kv.value)
        if leader is not None and leader.epoch != epoch:
            leader = None  # read between a claim's two keys cannot happen (one txn), but never trust it
        return PartitionState(partition, epoch, None if leader is None else leader.node)

    async def claim(self, partition: int, node: str, lease: Lease) -> int | None:
        """Becomes the leader with epoch + 1 if nobody holds the partition; the new epoch, or None when
        somebody does (or another claim won the race)."""
        current = await self.state(partition)
        if current.leader is not None:
            return None
        epoch = current.epoch + 1
        epoch_key, leader_key = self.layout.epoch(partition), self.layout.leader(partition)
        t = self.etcd.txn
        previous = (
            t.create(epoch_key) == 0 if current.epoch == 0 else t.value(epoch_key) == records.encode_int(current.epoch)
        )
        leader = records.encode(records.LeaderRecord(node=node, epoch=epoch))
        ok, _ = await self.etcd.transaction(
            compare=[previous, t.create(leader_key) == 0],
            success=[t.put(epoch_key, records.encode_int(epoch)), t.put(leader_key, leader, lease=lease.id)],
            failure=[],
        )
        if not ok:  # a retried claim that had committed reads as lost: check who holds it now
            now = await self.state(partition)
            return epoch if now.epoch == epoch and now.leader == node else None
        log.info("partition %d: %s claimed epoch %d", partition, node, epoch)
        return epoch

    async def resign(self, partition: int, epoch: int) -> None:
        """Gives the partition up (a clean stop), so a follower claims it at once instead of after the TTL."""
        t = self.etcd.txn
        await self.etcd.transaction(
            compare=[t.value(self.layout.epoch(partition)) == records.encode_int(epoch)],
            success=[t.delete(self.layout.leader(partition))],
            failure=[],
        )

    # --- moving leadership by hand (`restate cluster move-leader`)

    async def request_handover(self, partition: int, node: str) -> None:
        await self.etcd.put(self.layout.handover(partition), node.encode())

    async def handover_target(self, partition: int) -> str | None:
        found = await self.etcd.get(self.layout.handover(partition))
        return None if found is None else bytes(found.value).decode()

    async def handover_done(self, partition: int, node: str) -> None:
        """The target took over: the request is withdrawn (only if it still names the target)."""
        key, t = self.layout.handover(partition), self.etcd.txn
        await self.etcd.transaction(compare=[t.value(key) == node.encode()], success=[t.delete(key)], failure=[])

    async def wait_handover(self, partition: int, node: str) -> str:
        """Returns the node a handover request names once it names another node than `node`."""
        key = self.layout.handover(partition)
        while True:
            answer = await self.etcd.range(key, key + b"\0")
            if answer.kvs and bytes(answer.kvs[0].value).decode() != node:
                return str(bytes(answer.kvs[0].value).decode())
            watch = await self.etcd.watch(key, key + b"\0", int(answer.header.revision) + 1)
            try:
                async for event in watch:
                    if event.kind == "PUT" and bytes(event.kv.value).decode() != node:
                        return str(bytes(event.kv.value).decode())
            except Exception as exc:  # noqa: BLE001 - a broken watch: look again
                log.info("partition %d: handover watch failed (%s); looking again", partition, exc)
            finally:
                await watch.cancel()

    async def wait_vacant(self, partition: int) -> None:
        """Returns once the partition has no leader (its leader's lease expired, or it resigned)."""
        key = self.layout.leader(partition)
        while True:
            answer = await self.etcd.range(key, key + b"\0")
            if not answer.kvs:
                return
            watch = await self.etcd.watch(key, key + b"\0", int(answer.header.revision) + 1)
            try:
                async for event in watch:
                    if event.kind == "DELETE" and event.kv.key == key:
                        return
            except Exception as exc:  # noqa: BLE001 - a broken watch: look again
                log.info("partition %d: leader watch failed (%s); looking again", partition, exc)
            finally:
                await watch.cancel()

    # --- membership

    async def register_node(self, node: records.NodeRecord, lease: Lease) -> None:
        await self.etcd.put(self.layout.node(node.name), records.encode(node), lease=lease.id)

    async def nodes(self) -> list[records.NodeRecord]:
        prefix = self.layout.nodes_prefix()
        answer = await self.etcd.range(prefix, prefix_end(prefix))
        return [records.decode(records.NodeRecord, kv.value) for kv in answer.kvs]

    # --- replicas' progress

    async def report_applied(self, partition: int, node: str, lsn: int) -> None:
        await self.etcd.put(self.layout.applied(partition, node), records.encode_int(lsn))

    async def applied(self, partition: int) -> dict[str, int]:
        """The last LSN each replica of the partition reported applied."""
        prefix = self.layout.applied_prefix(partition)
        answer = await self.etcd.range(prefix, prefix_end(prefix))
        return {kv.key[len(prefix) :].decode(): records.decode_int(kv.value) for kv in answer.kvs}
