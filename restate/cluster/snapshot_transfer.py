"""Snapshots of a partition's shard between replicas: one served a chunk at a time from a consistent view,
one fetched into a fresh directory by a replica that is behind the log's trim point (docs/cluster.md)."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from restate import wire
from restate.cluster import shard_swap
from restate.cluster.snapshot_format import InstalledSnapshot, SnapshotChunk, SnapshotFormatError, decode, encode
from restate.ipc.node import partition_name
from restate.storage.codec import STORE_FORMAT
from restate.storage.db import Database, Snapshot
from restate.storage.view import PartitionView

if TYPE_CHECKING:
    from restate.cluster.replica import Replica

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024  # keys and values per chunk (one larger value makes a chunk of its own)
IDLE_S = 30.0  # a transfer nobody asks for more of is dropped (its LevelDB snapshot released)
LAST_KEPT_S = 5.0  # after its last chunk, in case that answer is lost and asked again
MAX_TRANSFERS = 2  # served at once by one replica
ASK_RESEND_S = 2.0  # an unanswered ask is sent again (the sender may have been busy, or restarted)
ASK_GIVE_UP_S = 15.0  # then the sender counts as gone: the next one is tried

Send = Callable[[str, wire.Message], None]


class SnapshotUnavailable(Exception):
    """No snapshot could be received (no live replica has one that reaches the trim point, or it broke off)."""


class _Served:
    """A transfer being served: its point-in-time view and what its chunks say."""

    __slots__ = ("applied_lsn", "expiry", "keys_before", "snapshot", "store_format")

    def __init__(self, snapshot: Snapshot) -> None:
        view = PartitionView(snapshot)
        self.snapshot = snapshot
        self.applied_lsn = view.applied_lsn()
        self.store_format = view.store_format() or STORE_FORMAT
        self.keys_before: dict[int, int] = {0: 0}  # per chunk number: the keys of the chunks before it
        self.expiry: asyncio.TimerHandle | None = None


class SnapshotSource:
    """Serves snapshots of this replica's shard to the replicas of other nodes. Each ask is answered with
    one chunk read from a LevelDB snapshot taken when the transfer began, so the partition's loop is held
    for one chunk's worth of reading at a time while its batches go on being committed."""

    def __init__(self, partition: int, database: Callable[[], Database], send: Send, chunk_bytes: int = CHUNK_BYTES):
        self.partition = partition
        self._database = database
        self._send = send
        self.chunk_bytes = chunk_bytes
        self._served: dict[tuple[str, int], _Served] = {}

    def ask(self, sender: str, message: wire.SnapshotAsk) -> None:
        key = (sender, message.transfer)
        served = self._served.get(key)
        if message.partition != self.partition:
            return self._refuse(sender, message, f"this is partition {self.partition}")
        if served is None:
            if message.seq != 0:
                return self._refuse(sender, message, "unknown transfer (it idled out, or this replica restarted)")
            if len(self._served) >= MAX_TRANSFERS:
                return self._refuse(sender, message, f"busy: {MAX_TRANSFERS} transfers being served")
            served = self._served[key] = _Served(self._database().snapshot())
            log.info("partition %d: serving a snapshot at LSN %d to %s", self.partition, served.applied_lsn, sender)
        before = served.keys_before.get(message.seq)
        if before is None:
            return self._refuse(sender, message, f"chunk {message.seq} asked out of order")
        chunk = self._chunk(served, message, before)
        served.keys_before = {message.seq: before, message.seq + 1: before + len(chunk.keys)}
        self._keep(key, served, LAST_KEPT_S if chunk.last else IDLE_S)
        self._send(sender, wire.SnapshotPart(message.transfer, message.seq, data=encode(chunk)))

    def _chunk(self, served: _Served, message: wire.SnapshotAsk, before: int) -> SnapshotChunk:
        keys: list[bytes] = []
        values: list[bytes] = []
        size, last = 0, True
        start = message.after + b"\0" if message.seq else b""  # the first key after `after`
        for key, value in served.snapshot.items_from(start):
            keys.append(key)
            values.append(value)
            size += len(key) + len(value)
            if size >= self.chunk_bytes:
                last = False
                break
        return SnapshotChunk(
            partition=self.partition, applied_lsn=served.applied_lsn, store_format=served.store_format,
            seq=message.seq, keys=keys, values=values, last=last, total=before + len(keys) if last else 0,
        )  # fmt: skip

    def _keep(self, key: tuple[str, int], served: _Served, for_s: float) -> None:
        if served.expiry is not None:
            served.expiry.cancel()
        served.expiry = asyncio.get_running_loop().call_later(for_s, self._drop, key)

    def _drop(self, key: tuple[str, int]) -> None:
        served = self._served.pop(key, None)
        if served is not None:
            served.snapshot.close()

    def _refuse(self, sender: str, message: wire.SnapshotAsk, why: str) -> None:
        self._send(sender, wire.SnapshotPart(message.transfer, message.seq, error=why))

    def close(self) -> None:
        for key in list(self._served):
            served = self._served[key]
            if served.expiry is not None:
                served.expiry.cancel()
            self._drop(key)


class SnapshotFetch:
    """Receives a snapshot from another node's replica into a fresh LevelDB directory, asking for one chunk
    at a time: at most one chunk is in memory on either side, whatever the shard's size."""

    def __init__(self, partition: int, send: Send) -> None:
        self.partition = partition
        self._send = send
        self._transfer = 0  # the transfer under way (0: none): answers to any other are dropped
        self._parts: asyncio.Queue[wire.SnapshotPart] = asyncio.Queue()

    def part(self, message: wire.SnapshotPart) -> None:
        if message.transfer == self._transfer and self._transfer:
            self._parts.put_nowait(message)

    async def fetch(self, peer: str, into: Path) -> tuple[int, int]:
        """Copies `peer`'s snapshot into the LevelDB at `into`, synced and closed; (its applied LSN, keys).
        Raises SnapshotUnavailable or SnapshotFormatError (the directory is then incomplete: discard it)."""
        self._transfer = random.getrandbits(62) + 1
        self._parts = asyncio.Queue()
        db = Database(into)
        try:
            seq, after, count, applied = 0, b"", 0, -1
            while True:
                chunk = await self._ask(peer, wire.SnapshotAsk(self._transfer, self.partition, seq, after))
                applied = _check(chunk, self.partition, seq, after, applied)
                if chunk.keys:
                    db.write(dict(zip(chunk.keys, chunk.values, strict=True)), sync=False)
                    after = chunk.keys[-1]
                count += len(chunk.keys)
                if chunk.last:
                    if chunk.total != count:
                        raise SnapshotFormatError(f"the snapshot has {chunk.total} keys, {count} were received")
                    break
                seq += 1
            db.write({}, sync=True)  # LevelDB fsyncs its log: every batch above is durable
        finally:
            db.close()
            self._transfer = 0
        return applied, count

    async def _ask(self, peer: str, ask: wire.SnapshotAsk) -> SnapshotChunk:
        deadline = time.monotonic() + ASK_GIVE_UP_S
        while True:
            self._send(peer, ask)
            try:
                part = await asyncio.wait_for(self._answer(ask.seq), ASK_RESEND_S)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise SnapshotUnavailable(f"{peer} did not answer for {ASK_GIVE_UP_S:.0f}s") from None
                continue
            if part.error is not None:
                raise SnapshotUnavailable(f"{peer}: {part.error}")
            return decode(SnapshotChunk, part.data)

    async def _answer(self, seq: int) -> wire.SnapshotPart:
        while True:
            part = await self._parts.get()
            if part.seq == seq:  # an earlier chunk's answer to an ask sent twice: already written
                return part


def _check(chunk: SnapshotChunk, partition: int, seq: int, after: bytes, applied: int) -> int:
    """The chunk continues the snapshot received so far; its applied LSN."""
    if chunk.partition != partition or chunk.seq != seq:
        raise SnapshotFormatError(f"chunk {chunk.seq} of partition {chunk.partition}: expected {seq} of {partition}")
    if applied >= 0 and chunk.applied_lsn != applied:
        raise SnapshotFormatError(f"chunk {seq} is at LSN {chunk.applied_lsn}, the chunks before at {applied}")
    if chunk.store_format > STORE_FORMAT:
        raise SnapshotFormatError(f"store format {chunk.store_format}: this release reads up to {STORE_FORMAT}")
    previous = after if seq else None
    for key in chunk.keys:
        if previous is not None and key <= previous:
            raise SnapshotFormatError(f"chunk {seq}: keys out of order")
        previous = key
    return chunk.applied_lsn


class Snapshots:
    """A replica's two roles in snapshot transfers, as the partition process (cluster mode) holds them."""

    def __init__(self, partition: int, database: Callable[[], Database], send: Send) -> None:
        self.source = SnapshotSource(partition, database, send)
        self.fetch = SnapshotFetch(partition, send)

    def on_message(self, sender: str, message: wire.SnapshotAsk | wire.SnapshotPart) -> None:
        if isinstance(message, wire.SnapshotAsk):
            self.source.ask(sender, message)
        else:
            self.fetch.part(message)

    async def install_if_behind(self, replica: Replica, applied_lsn: int, shard: Path) -> bool:
        """See install_if_behind: True when a snapshot was received (the process must restart to use it)."""
        return await install_if_behind(replica, applied_lsn, self.fetch, shard) is not None

    def close(self) -> None:
        self.source.close()


async def install_if_behind(replica: Replica, applied_lsn: int, fetch: SnapshotFetch, shard: Path) -> int | None:
    """Run before a replica follows the log: when its shard is behind the log's trim point (entries it
    needs were deleted: a new or wiped node, one that was down while the log was trimmed), receives a
    snapshot from a live replica next to the shard and marks it received whole. The caller then restarts
    the process, whose start swaps it in (shard_swap.settle) and follows the log from the snapshot's LSN
    + 1. Returns that LSN; None when the shard is not behind. Raises SnapshotUnavailable when no live
    replica could give one that reaches the trim point (the process fails and is restarted: it tries again)."""
    assert replica.log is not None and replica.table is not None
    trim = await replica.log.trim_point()
    if applied_lsn + 1 >= trim:
        return None
    partition = replica.partition
    log.warning(
        "partition %d: applied LSN %d is behind the log's trim point %d: needs a snapshot", partition, applied_lsn, trim
    )
    live = {node.name for node in await replica.table.nodes()}
    applied = await replica.table.applied(partition)
    sources = sorted(
        (lsn, node) for node, lsn in applied.items() if node in live and node != replica.node_name and lsn + 1 >= trim
    )
    failures = []
    for _, node in reversed(sources):  # the most advanced first: the fewest entries to follow afterwards
        incoming = shard_swap.fresh_incoming(shard)
        try:
            lsn, keys = await fetch.fetch(f"{node}/{partition_name(partition)}", incoming)
            trim = await replica.log.trim_point()
            if lsn + 1 < trim:
                raise SnapshotUnavailable(f"{node}'s snapshot at LSN {lsn} is behind the trim point {trim} already")
        except (SnapshotUnavailable, SnapshotFormatError) as exc:
            failures.append(str(exc))
            shutil.rmtree(incoming)
            continue
        shard_swap.mark_received(
            incoming, InstalledSnapshot(partition=partition, applied_lsn=lsn, source=node, keys=keys)
        )
        log.warning("partition %d: received a snapshot at LSN %d from %s (%d keys)", partition, lsn, node, keys)
        return lsn
    raise SnapshotUnavailable(
        f"partition {partition}: no snapshot reaching LSN {trim - 1} from a live replica: "
        + ("; ".join(failures) or "none")
    )
