"""A partition's replicated command log in etcd: epoch-fenced appends, reads and tailing by LSN, trimming."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end

log = logging.getLogger(__name__)

# etcd refuses requests over --max-request-bytes (1.5 MiB by default): an entry larger than this is
# written as chunks, each in a request of its own, with the record naming them written last.
CHUNK_BYTES = 1024 * 1024
READ_PAGE = 256  # entries per range read while catching up


class Fenced(Exception):
    """An append of a deposed writer: the partition's epoch moved on (or another writer holds the LSN)."""

    def __init__(self, partition: int, epoch: int, current: int | None) -> None:
        super().__init__(f"partition {partition}: epoch {epoch} was fenced (current epoch: {current})")
        self.partition = partition
        self.epoch = epoch
        self.current = current


class PreviousMissing(Fenced):
    """An append that needs the entry before it (`after_previous`) found it missing while the epoch is still
    ours: that entry's append is still on its way to etcd (concurrent requests commit in any order), or
    it failed. The caller waits for it and retries, or fails with it."""


class LogItem(msgspec.Struct, frozen=True):
    """An entry as read back: its LSN, the epoch of the leader that wrote it, and the entry's bytes."""

    lsn: int
    epoch: int
    entry: bytes


class ReplicatedLog:
    """The log of one partition. LSNs start at 1 without gaps; only the holder of the current epoch
    (see leadership.py) can append, and a retried append is never duplicated (docs/cluster.md)."""

    def __init__(self, etcd: Etcd, layout: Layout, partition: int, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.etcd = etcd
        self.layout = layout
        self.partition = partition
        self.chunk_bytes = chunk_bytes
        self._prefix = layout.log_prefix(partition)
        self._epoch_key = layout.epoch(partition)

    # --- writing

    async def append(self, epoch: int, lsn: int, entry: bytes, after_previous: bool = False) -> None:
        """Appends `entry` at `lsn` if `epoch` is still the partition's epoch; returns once etcd committed
        it (a majority has it on disk). Raises Fenced when a newer leader took over. `after_previous`:
        the append at `lsn - 1` is still in flight, so this one also requires that entry to exist (etcd
        may commit two concurrent transactions in either order; the log must never have a gap)."""
        if len(entry) > self.chunk_bytes:
            record = await self._write_chunks(epoch, lsn, entry)
        else:
            record = records.LogRecord(epoch=epoch, entry=entry)
        data = records.encode(record)
        key = self.layout.log_key(self.partition, lsn)
        t = self.etcd.txn
        compare = [t.value(self._epoch_key) == records.encode_int(epoch), t.create(key) == 0]
        if after_previous:
            compare.append(t.create(self.layout.log_key(self.partition, lsn - 1)) > 0)
        ok, answers = await self.etcd.transaction(
            compare=compare,
            success=[t.put(key, data)],
            failure=[t.get(self._epoch_key), t.get(key)],
        )
        if ok:
            return
        current_epoch, existing = _first_value(answers[0]), _first_value(answers[1])
        if existing == data and current_epoch == records.encode_int(epoch):
            return  # our own earlier try committed; its answer was lost (a timeout, a member that died)
        current = None if current_epoch is None else records.decode_int(current_epoch)
        if after_previous and existing is None and current == epoch:
            raise PreviousMissing(self.partition, epoch, current)
        raise Fenced(self.partition, epoch, current)

    async def _write_chunks(self, epoch: int, lsn: int, entry: bytes) -> records.LogRecord:
        """Writes the pieces of a large entry, each fenced by the epoch; the record naming them comes last,
        so a reader never sees a record whose pieces are missing. A deposed writer's pieces are garbage
        that the next leader's append at the same LSN overwrites (or the trim removes)."""
        pieces = [entry[i : i + self.chunk_bytes] for i in range(0, len(entry), self.chunk_bytes)]
        t = self.etcd.txn
        for index, piece in enumerate(pieces):
            ok, answers = await self.etcd.transaction(
                compare=[t.value(self._epoch_key) == records.encode_int(epoch)],
                success=[t.put(self.layout.chunk_key(self.partition, lsn, index), piece)],
                failure=[t.get(self._epoch_key)],
            )
            if not ok:
                current = _first_value(answers[0])
                raise Fenced(self.partition, epoch, None if current is None else records.decode_int(current))
        return records.LogRecord(epoch=epoch, chunks=len(pieces))

    async def trim(self, below_lsn: int) -> None:
        """Deletes the entries (and their chunks) below `below_lsn`; records the trim point first, so a
        reader that finds an entry missing knows it was trimmed, not lost."""
        await self.etcd.put(self.layout.trim(self.partition), records.encode_int(below_lsn))
        await self.etcd.delete_range(self._prefix, self.layout.log_key(self.partition, below_lsn))
        await self.etcd.delete_range(*self.layout.chunks_below(self.partition, below_lsn))

    async def trim_point(self) -> int:
        """The first LSN that may still be in etcd (1 when nothing was trimmed)."""
        found = await self.etcd.get(self.layout.trim(self.partition))
        return 1 if found is None else records.decode_int(found.value)

    # --- reading

    async def last_lsn(self) -> int:
        """The LSN of the last entry (0 when the log is empty and was never trimmed)."""
        answer = await self.etcd.range(self._prefix, prefix_end(self._prefix), limit=1, descending=True)
        if answer.kvs:
            return self.layout.lsn_of(self.partition, answer.kvs[0].key)
        return await self.trim_point() - 1

    async def read(self, from_lsn: int, limit: int = READ_PAGE) -> tuple[list[LogItem], int]:
        """Up to `limit` entries from `from_lsn` on, in order, and the etcd revision they were read at
        (a watch from revision + 1 continues exactly after them)."""
        start = self.layout.log_key(self.partition, from_lsn)
        answer = await self.etcd.range(start, prefix_end(self._prefix), limit=limit)
        revision = int(answer.header.revision)
        items = [await self._item(kv.key, kv.value) for kv in answer.kvs]
        return items, revision

    async def tail(self, from_lsn: int) -> AsyncIterator[LogItem]:
        """Every entry from `from_lsn` on, in LSN order, for ever: range reads to catch up, then a watch.
        A watch that breaks (a member died, a compacted revision) falls back to reading."""
        next_lsn = from_lsn
        while True:
            items, revision = await self.read(next_lsn)
            for item in items:
                yield item
                next_lsn = item.lsn + 1
            if len(items) == READ_PAGE:
                continue
            try:
                async for item in self._watch(next_lsn, revision + 1):
                    yield item
                    next_lsn = item.lsn + 1
            except _WatchGap as gap:
                log.info("partition %d: %s; reading the log again", self.partition, gap)
            except Exception as exc:  # noqa: BLE001 - any broken watch: re-read from where we are
                log.warning("partition %d: log watch failed (%s); reading the log again", self.partition, exc)

    async def _watch(self, next_lsn: int, revision: int) -> AsyncIterator[LogItem]:
        watch = await self.etcd.watch(self._prefix, prefix_end(self._prefix), revision)
        try:
            async for event in watch:
                if event.kind != "PUT":
                    continue  # a trim
                lsn = self.layout.lsn_of(self.partition, event.kv.key)
                if lsn < next_lsn:
                    continue
                if lsn > next_lsn:
                    raise _WatchGap(f"watch jumped from LSN {next_lsn} to {lsn}")
                yield await self._item(event.kv.key, event.kv.value)
                next_lsn = lsn + 1
        finally:
            await watch.cancel()

    async def _item(self, key: bytes, value: bytes) -> LogItem:
        lsn = self.layout.lsn_of(self.partition, key)
        record = records.decode(records.LogRecord, value)
        entry = record.entry
        if record.chunks:
            prefix = self.layout.chunk_prefix(self.partition, lsn)
            answer = await self.etcd.range(prefix, prefix_end(prefix))
            pieces = [kv.value for kv in answer.kvs]
            if len(pieces) != record.chunks:
                raise records.EtcdRecordError(f"entry {lsn}: {len(pieces)} of {record.chunks} chunks found")
            entry = b"".join(pieces)
        return LogItem(lsn, record.epoch, entry)


class _WatchGap(Exception):
    """The watch skipped an LSN (it started after a trim, or events were compacted): read instead."""


def _first_value(answer: Any) -> bytes | None:
    """The value of a transaction's get (a list of (value, metadata)); None when the key is absent."""
    return answer[0][0] if answer else None
