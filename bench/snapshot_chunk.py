"""How long one snapshot chunk holds a partition's loop (docs/cluster.md, "Snapshots"): a shard of
100,000 keys (`--keys`) with 200-byte values is served ask by ask, and each ask's time is measured; then
the whole shard is fetched into a fresh LevelDB by SnapshotFetch on the same loop (no network: the CPU
and disk cost of a transfer, both ends on one core).

`.venv/bin/python -m bench.snapshot_chunk [--rounds 3] [--keys 100000]`"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from restate import wire
from restate.cluster.snapshot_format import SnapshotChunk, decode
from restate.cluster.snapshot_transfer import SnapshotFetch, SnapshotSource
from restate.storage.partition_store import PartitionStore

KEYS = 100_000
VALUE_BYTES = 200


async def _serve_all(store: PartitionStore, count: int) -> list[float]:
    sent: list[wire.Message] = []
    source = SnapshotSource(0, lambda: store.db, lambda _peer, message: sent.append(message))
    times, after, seq = [], b"", 0
    for _ in range(count + 1):  # bounded: at least one key per chunk
        started = time.perf_counter()
        source.ask("bench/p0", wire.SnapshotAsk(1, 0, seq, after))
        times.append(time.perf_counter() - started)
        part = sent[-1]
        assert isinstance(part, wire.SnapshotPart)
        chunk = decode(SnapshotChunk, part.data)
        if chunk.last:
            break
        after, seq = chunk.keys[-1], seq + 1
    source.close()
    return sorted(times)


async def _fetch_all(store: PartitionStore, into: Path) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    source = SnapshotSource(0, lambda: store.db, lambda _peer, m: loop.call_soon(fetch.part, m))
    fetch = SnapshotFetch(0, lambda _peer, m: loop.call_soon(source.ask, "bench/p0", m))
    started = time.perf_counter()
    _, keys = await fetch.fetch("bench/p0", into)
    elapsed = time.perf_counter() - started
    source.close()
    return elapsed, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=KEYS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        store = PartitionStore(Path(root) / "0")
        for block in range(args.keys // 1000):
            store.db.write({b"st%08d" % (block * 1000 + i): os.urandom(VALUE_BYTES) for i in range(1000)}, sync=False)
        for round_ in range(args.rounds):
            times = asyncio.run(_serve_all(store, args.keys))
            p50, p99 = times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]
            elapsed, keys = asyncio.run(_fetch_all(store, Path(root) / f"copy{round_}"))
            megabytes = keys * (VALUE_BYTES + 10) / 1e6
            print(
                f"round {round_}: {len(times)} chunks, ms per chunk p50 {p50 * 1e3:.2f} p99 {p99 * 1e3:.2f}; "
                f"whole fetch {elapsed:.2f} s ({megabytes / elapsed:.1f} MB/s of keys and values)"
            )
        store.close()


if __name__ == "__main__":
    main()
