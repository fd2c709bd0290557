"""Snapshots of a shard (docs/cluster.md, "Snapshots"): the versioned chunk and marker formats against their
checked-in bytes, a transfer in small chunks from a point-in-time view, and the swap that leaves the old
shard or the new one whatever step a crash interrupts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest

from restate import wire
from restate.cluster import shard_swap
from restate.cluster.snapshot_format import InstalledSnapshot, SnapshotChunk, SnapshotFormatError, decode, encode
from restate.cluster.snapshot_transfer import SnapshotFetch, SnapshotSource, SnapshotUnavailable
from restate.storage import codec
from restate.storage.keys import APPLIED_LSN, fsm_key
from restate.storage.partition_store import PartitionStore
from restate.storage.records import SequenceRecord
from restate.storage.view import PartitionView

FIXTURES = Path(__file__).parents[2] / "fixtures" / "snapshot"
CHUNK = SnapshotChunk(
    partition=3, applied_lsn=1234, store_format=3, seq=2, keys=[b"st\x00k1", b"st\x00k2"], values=[b"v1", b""]
)
LAST = SnapshotChunk(partition=3, applied_lsn=1234, store_format=3, seq=3, keys=[], values=[], last=True, total=57)
MARKER = InstalledSnapshot(partition=3, applied_lsn=1234, source="n2", keys=57)
SAMPLES = {"chunk.v1.msgpack": CHUNK, "chunk.v1.last.msgpack": LAST, "installed.v1.msgpack": MARKER}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_formats_write_and_read_their_checked_in_bytes(name: str) -> None:
    golden = (FIXTURES / name).read_bytes()
    sample = SAMPLES[name]
    assert encode(sample) == golden, "released bytes never change: a new format is a new version"
    assert decode(type(sample), golden) == sample
    assert msgspec.msgpack.decode(golden)["v"] == 1  # map-encoded, the version first


def test_other_versions_unknown_fields_and_garbage_are_refused() -> None:
    fields = msgspec.structs.asdict(MARKER)
    with pytest.raises(SnapshotFormatError, match="version 2"):
        decode(InstalledSnapshot, msgspec.msgpack.encode({**fields, "v": 2, "extra": 1}))
    with pytest.raises(SnapshotFormatError):
        decode(InstalledSnapshot, msgspec.msgpack.encode({**fields, "extra": 1}))
    with pytest.raises(SnapshotFormatError):
        decode(SnapshotChunk, b"\xc1garbage")
    uneven = msgspec.structs.asdict(CHUNK) | {"values": [b"v1"]}
    with pytest.raises(SnapshotFormatError, match="2 keys, 1 values"):
        decode(SnapshotChunk, msgspec.msgpack.encode(uneven))


def _shard(path: Path, applied_lsn: int, rows: int) -> PartitionStore:
    store = PartitionStore(path)
    puts: dict[bytes, bytes | None] = {b"zz%05d" % i: os.urandom(40) for i in range(rows)}
    puts[fsm_key(APPLIED_LSN)] = codec.encode(SequenceRecord(last=applied_lsn))
    store.db.write(puts)
    return store


def _contents(path: Path) -> dict[bytes, bytes]:
    store = PartitionStore(path)
    try:
        return dict(store.db.snapshot().items_from(b""))
    finally:
        store.close()


class _Wire:
    """Source and fetcher on one loop, each message delivered on a later loop pass (as over the bus)."""

    def __init__(self, store: PartitionStore, chunk_bytes: int) -> None:
        loop = asyncio.get_running_loop()
        self.parts: list[int] = []  # the size of each chunk sent
        self.asks = 0

        def to_fetch(_peer: str, message: wire.Message) -> None:
            assert isinstance(message, wire.SnapshotPart)
            self.parts.append(len(message.data))
            loop.call_soon(self.fetch.part, message)

        def to_source(_peer: str, message: wire.Message) -> None:
            assert isinstance(message, wire.SnapshotAsk)
            self.asks += 1
            loop.call_soon(self.source.ask, "n9/p3", message)

        self.source = SnapshotSource(3, lambda: store.db, to_fetch, chunk_bytes=chunk_bytes)
        self.fetch = SnapshotFetch(3, to_source)


def test_a_snapshot_travels_in_bounded_chunks_from_a_point_in_time_view(tmp_path: Path) -> None:
    source_store = _shard(tmp_path / "n2" / "3", applied_lsn=77, rows=300)
    expected = dict(source_store.db.snapshot().items_from(b""))
    shard = tmp_path / "n1" / "partitions" / "3"
    old = _shard(shard, applied_lsn=5, rows=3)
    old.close()

    async def main() -> tuple[int, int]:
        bus = _Wire(source_store, chunk_bytes=1000)
        incoming = shard_swap.fresh_incoming(shard)
        fetching = asyncio.ensure_future(bus.fetch.fetch("n2/p3", incoming))
        while bus.asks < 3:  # the transfer is under way: later commits are not part of it
            await asyncio.sleep(0)
        source_store.db.write({b"zz99999": b"late", fsm_key(APPLIED_LSN): codec.encode(SequenceRecord(last=78))})
        lsn, keys = await fetching
        assert len(bus.parts) == bus.asks >= 300 * 47 // 1000  # each chunk answered one ask
        assert max(bus.parts) < 2 * 1000  # its bound, one more key and value, msgpack framing (the shard: 14 kB)
        shard_swap.mark_received(incoming, InstalledSnapshot(partition=3, applied_lsn=lsn, source="n2", keys=keys))
        return lsn, keys

    lsn, keys = asyncio.run(main())
    assert (lsn, keys) == (77, len(expected))
    assert _contents(shard) != expected  # nothing replaced yet: the swap happens when the shard is next opened
    installed = shard_swap.settle(shard)
    assert installed is not None and installed.applied_lsn == 77
    assert {k: v for k, v in _contents(shard).items()} == expected
    assert PartitionView(PartitionStore(shard)).applied_lsn() == 77
    assert not shard_swap.incoming_dir(shard).exists() and not shard_swap.retired_dir(shard).exists()
    source_store.close()


def test_a_transfer_broken_off_midway_leaves_the_old_shard(tmp_path: Path) -> None:
    source_store = _shard(tmp_path / "n2" / "3", applied_lsn=77, rows=200)
    shard = tmp_path / "n1" / "partitions" / "3"
    old = _shard(shard, applied_lsn=5, rows=3)
    before = dict(old.db.snapshot().items_from(b""))
    old.close()

    async def main() -> None:
        bus = _Wire(source_store, chunk_bytes=500)
        fetching = asyncio.ensure_future(bus.fetch.fetch("n2/p3", shard_swap.fresh_incoming(shard)))
        while bus.asks < 4:
            await asyncio.sleep(0)
        bus.source.close()  # the sender restarted: its transfer is gone
        with pytest.raises(SnapshotUnavailable, match="unknown transfer"):
            await fetching

    asyncio.run(main())
    assert shard_swap.incoming_dir(shard).exists()  # what a crash at this point leaves on disk
    assert shard_swap.settle(shard) is None
    assert _contents(shard) == before and not shard_swap.incoming_dir(shard).exists()
    source_store.close()


def test_a_crash_during_the_swap_is_finished_by_the_next_start(tmp_path: Path) -> None:
    shard = tmp_path / "partitions" / "0"
    _shard(shard, applied_lsn=5, rows=2).close()
    incoming = shard_swap.fresh_incoming(shard)
    _shard(incoming, applied_lsn=40, rows=4).close()
    new = _contents(incoming)
    marker = InstalledSnapshot(partition=0, applied_lsn=40, source="n3", keys=len(new))
    shard_swap.mark_received(incoming, marker)
    os.rename(shard, shard_swap.retired_dir(shard))  # the swap's first rename, then a crash
    assert shard_swap.settle(shard) == marker
    assert _contents(shard) == new and not shard_swap.retired_dir(shard).exists()
    assert shard_swap.settle(shard) is None  # nothing left to do
