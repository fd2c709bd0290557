"""How long one snapshot chunk holds a partition's loop (docs/cluster.md, "Snapshots"): a shard of
20,000 keys with 200-byte values is served ask by ask, and each ask's time is measured.

`.venv/bin/python -m bench.snapshot_chunk [--rounds 3]`"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from restate import wire
from restate.cluster.snapshot_format import SnapshotChunk, decode
from restate.cluster.snapshot_transfer import SnapshotSource
from restate.storage.partition_store import PartitionStore

KEYS = 20_000
VALUE_BYTES = 200


async def _serve_all(store: PartitionStore) -> list[float]:
    sent: list[wire.Message] = []
    source = SnapshotSource(0, lambda: store.db, lambda _peer, message: sent.append(message))
    times, after, seq = [], b"", 0
    for _ in range(KEYS):  # bounded: at least one key per chunk
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        store = PartitionStore(Path(root) / "0")
        for block in range(KEYS // 1000):
            store.db.write({b"st%08d" % (block * 1000 + i): os.urandom(VALUE_BYTES) for i in range(1000)}, sync=False)
        for round_ in range(args.rounds):
            times = asyncio.run(_serve_all(store))
            p50, p99 = times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]
            print(f"round {round_}: {len(times)} chunks, ms per chunk p50 {p50 * 1e3:.2f} p99 {p99 * 1e3:.2f}")
        store.close()


if __name__ == "__main__":
    main()
