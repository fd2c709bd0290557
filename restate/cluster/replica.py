"""The cluster side of a partition process: follow the log until it can claim the partition, then append
every batch before it is committed (docs/cluster.md). The process exits when it is fenced or loses its
lease; the supervisor restarts it, and it follows again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from restate.cluster.cluster_config import ClusterConfig
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leader_map import LeaderMap
from restate.cluster.leadership import Lease, PartitionTable
from restate.cluster.placement import ensure_placement, wait_membership_change
from restate.cluster.replicated_log import LogItem, PreviousMissing, ReplicatedLog
from restate.cluster.schema_history import SchemaHistory
from restate.schema import Schema

log = logging.getLogger(__name__)

PROGRESS_S = 1.0  # how often a replica reports the LSN it applied (for trimming and `cluster status`)

ApplyItem = Callable[[LogItem], Awaitable[None]]


class LogGap(RuntimeError):
    """The next entry in the log is not the one after this replica's applied LSN: it was trimmed."""


class HandedOver(Exception):
    """This leader resigned because an operator moved the partition's leadership to another node."""


class Replica:
    """One partition's replica on this node: its etcd connection, its lease, its role."""

    def __init__(self, cluster: ClusterConfig, partition: int) -> None:
        self.cluster = cluster
        self.partition = partition
        self.node_name = cluster.node_name
        self.layout = Layout(cluster.cluster_name)
        self.etcd: Etcd | None = None
        self.lease: Lease | None = None
        self.table: PartitionTable | None = None
        self.log: ReplicatedLog | None = None
        self.leaders: LeaderMap | None = None
        self.schemas: SchemaHistory | None = None
        self.replicas: list[str] = []  # the nodes holding a replica of the partition (from etcd, see connect)
        self.epoch = 0  # ours once we lead; 0 while following
        self.next_lsn = 0
        self.applied_lsn = 0
        self._last_append: asyncio.Task[None] | None = None  # the newest append started (see start_append)
        self._dead_since: dict[str, float] = {}  # replica node -> when the leader first saw it not live

    @property
    def leading(self) -> bool:
        return self.epoch > 0

    async def connect(self) -> bool:
        """Connects to etcd and reads the placement: whether this node holds a replica of the partition.
        Only a replica takes a lease (it may claim the partition); any node keeps the leader map."""
        self.etcd = etcd = await Etcd.connect(self.cluster.etcd_endpoints)
        self.replicas = (await ensure_placement(etcd, self.layout, self.cluster))[self.partition]
        self.leaders = LeaderMap(etcd, self.layout, self.node_name, self.cluster.num_partitions)
        if self.node_name not in self.replicas:
            return False
        self.lease = await Lease.grant(etcd, self.cluster.lease_ttl_s)
        self.table = PartitionTable(etcd, self.layout)
        self.log = ReplicatedLog(etcd, self.layout, self.partition)
        self.schemas = SchemaHistory(etcd, self.layout)
        return True

    async def follow_until_leader(self, applied_lsn: int, apply: ApplyItem) -> None:
        """Applies the log as a follower until the partition has no leader and our claim wins; then
        catches up to the end of the log (nobody can append behind us any more) and returns."""
        assert self.table is not None and self.lease is not None and self.log is not None
        self.applied_lsn = applied_lsn
        while True:
            target = await self.table.handover_target(self.partition)
            if target is not None and target != self.node_name and target in self.replicas:
                await asyncio.sleep(self.cluster.lease_ttl_s)  # moved by hand: the target claims first
            epoch = await self.table.claim(self.partition, self.node_name, self.lease)
            if epoch is not None:
                if target == self.node_name:
                    await self.table.handover_done(self.partition, self.node_name)
                break
            follower = asyncio.create_task(self._apply_tail(apply))
            vacant = asyncio.create_task(self.table.wait_vacant(self.partition))
            try:  # a tail that fails (a gap: LogGap) fails the process now, not once the leader is gone
                await asyncio.wait((follower, vacant), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (follower, vacant):
                    task.cancel()
                await asyncio.gather(follower, vacant, return_exceptions=True)
            for task in (follower, vacant):
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        while True:  # catch up: read to the end
            items, _ = await self.log.read(self.applied_lsn + 1)
            if not items:
                break
            for item in items:
                await self._apply(item, apply)
        self.epoch = epoch
        self.next_lsn = max(self.applied_lsn, await self.log.last_lsn()) + 1
        log.info("partition %d: leading with epoch %d from LSN %d", self.partition, epoch, self.next_lsn)

    async def _apply_tail(self, apply: ApplyItem) -> None:
        assert self.log is not None
        async for item in self.log.tail(self.applied_lsn + 1):
            await self._apply(item, apply)

    async def _apply(self, item: LogItem, apply: ApplyItem) -> None:
        if item.lsn != self.applied_lsn + 1:
            raise LogGap(
                f"partition {self.partition}: log entry {item.lsn} after {self.applied_lsn}: the entries between"
                " were trimmed while this replica's node was not live; restarted, it installs a snapshot"
            )
        await apply(item)
        self.applied_lsn = item.lsn

    async def append(self, entry: bytes) -> int:
        """Appends a batch's entry at the next LSN and waits for it (raises Fenced when deposed); the LSN
        it got, which counts as applied."""
        lsn, appended = self.start_append(entry)
        await appended
        self.applied_lsn = lsn
        return lsn

    def start_append(self, entry: bytes) -> tuple[int, asyncio.Task[None]]:
        """Starts appending a batch's entry at the next LSN, while earlier appends may still be in flight;
        the LSN and the append's task (which raises Fenced when deposed). The caller awaits the tasks in LSN
        order and applies each batch only after its own append (then `applied`)."""
        assert self.log is not None
        lsn = self.next_lsn
        previous = self._last_append
        if previous is not None and previous.done() and not previous.cancelled() and previous.exception() is None:
            previous = None  # acknowledged: its entry is in the log
        task = asyncio.ensure_future(self._append_after(lsn, entry, previous))
        self.next_lsn = lsn + 1
        self._last_append = task
        return lsn, task

    async def _append_after(self, lsn: int, entry: bytes, previous: asyncio.Task[None] | None) -> None:
        """Appends at `lsn`; while `previous` (the append at `lsn - 1`) is unacknowledged, the transaction
        also requires that entry, so the log never gets a gap. etcd may get the two in either order: when
        this one comes first, it waits for the previous one and tries again (or fails with it)."""
        assert self.log is not None
        try:
            await self.log.append(self.epoch, lsn, entry, after_previous=previous is not None)
        except PreviousMissing:
            assert previous is not None
            await asyncio.shield(previous)  # raises as the previous append did: this one fails with it
            await self.log.append(self.epoch, lsn, entry)

    def applied(self, lsn: int) -> None:
        """The batch at `lsn` was committed to this replica's shard (reported, and the trim's bound)."""
        self.applied_lsn = lsn

    async def hand_over_when_asked(self) -> None:
        """The leader's task: when `restate cluster move-leader` names another node, resign and raise
        HandedOver (the process exits, is restarted by the supervisor and follows the new leader)."""
        assert self.table is not None
        target = await self.table.wait_handover(self.partition, self.node_name)
        await self.table.resign(self.partition, self.epoch)
        raise HandedOver(f"partition {self.partition}: leadership handed over to {target}")

    async def wait_moved(self) -> str:
        """Returns once `restate cluster move-replica` gave this node a replica of the partition or took
        its replica away (the process then restarts in its new role), saying which. A removed replica
        deletes its progress key (the trim must not wait for it); its shard stays on disk, unused."""
        assert self.etcd is not None
        had = self.node_name in self.replicas
        await wait_membership_change(self.etcd, self.layout, self.partition, self.node_name, self.replicas)
        if had:
            await self.etcd.delete_range(
                self.layout.applied(self.partition, self.node_name),
                self.layout.applied(self.partition, self.node_name) + b"\0",
            )
            return "its replica moved to another node"
        return "it got a replica"

    async def schema(self, version: int) -> Schema:
        """A schema version an entry names, from etcd (a replica may be a version behind or ahead)."""
        assert self.schemas is not None
        if version == 0:
            return Schema()  # the empty registry every node starts with: never written to etcd
        while True:
            schema = await self.schemas.get(version)
            if schema is not None:
                return schema
            await asyncio.sleep(0.1)  # written by an admin before any partition uses it: not there yet?

    async def report_progress(self, sync: Callable[[], None]) -> None:
        """Reports the applied LSN once a second, and as the leader trims what every replica applied
        (a task for as long as the process runs). Batches are committed without fsync in a cluster
        (a crash of the machine loses a suffix of them, which the log still has): `sync` makes them
        durable before their LSN is reported, since entries below every reported LSN are trimmed."""
        assert self.table is not None
        reported = -1
        trimmed = 0
        while True:
            applied = self.applied_lsn
            if applied != reported and self.node_name in self.replicas:  # not once moved away (wait_moved)
                sync()
                await self.table.report_applied(self.partition, self.node_name, applied)
                reported = applied
            if self.leading:
                trimmed = await self._trim(trimmed)
                if self.cluster.replace_dead_node_after_s > 0:
                    await self._replace_dead()
            await asyncio.sleep(PROGRESS_S)

    async def _replace_dead(self) -> None:
        """The leader moves the replica of a node dead (not live) for `replace-dead-node-after` to a live
        node without one (docs/cluster.md, "Moving a replica"). Counted from when this leader first saw it
        dead: a new leader waits the whole time again, so a node that merely restarts keeps its replica."""
        from restate.cluster.replica_move import replace_dead_replica

        assert self.table is not None and self.etcd is not None
        live = {node.name for node in await self.table.nodes()}
        now = time.monotonic()
        for node in list(self._dead_since):
            if node in live or node not in self.replicas:
                del self._dead_since[node]
        for node in self.replicas:
            if node not in live:
                self._dead_since.setdefault(node, now)
        for node, since in sorted(self._dead_since.items()):
            if now - since >= self.cluster.replace_dead_node_after_s:
                moved = await replace_dead_replica(
                    self.etcd, self.layout, self.partition, self.epoch, self.node_name, node, live
                )
                if moved is not None:
                    self.replicas[:] = moved  # the trim waits for the new replica at once
                    del self._dead_since[node]
                return  # one move per round: the next round sees the placement it made

    async def _trim(self, trimmed: int) -> int:
        """Deletes the entries every live replica of the partition has applied, `trim-every` entries at a
        time (a delete of a key range, worth doing in bulk). A live replica that has not reported holds the
        log back; the replica of a node that is not live (its membership lease expired) does not: when it
        comes back behind the trim point it installs a snapshot from a live replica (docs/cluster.md,
        "Trimming and snapshots")."""
        assert self.table is not None and self.log is not None
        reported = await self.table.applied(self.partition)
        live = {node.name for node in await self.table.nodes()}
        replicas = [node for node in self.replicas if node in live]
        if not replicas or any(node not in reported for node in replicas):
            return trimmed
        # Never at or past our own applied LSN: an append in flight may require the entry before it to exist.
        below = min(min(reported[node] for node in replicas) + 1, self.applied_lsn)
        if below - trimmed < self.cluster.trim_every:
            return trimmed
        await self.log.trim(below)
        return below

    async def close(self) -> None:
        """Resigns (a follower claims at once instead of after the lease's TTL) and disconnects."""
        if self.etcd is None:
            return
        try:
            if self.leading and self.table is not None:
                await asyncio.wait_for(self.table.resign(self.partition, self.epoch), 2.0)
            if self.lease is not None:
                await asyncio.wait_for(self.lease.revoke(), 2.0)
        except Exception as exc:  # noqa: BLE001 - best effort: the lease expires anyway
            log.info("partition %d: could not resign cleanly: %s", self.partition, exc)
        await self.etcd.close()
