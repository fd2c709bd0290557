"""Replacing a partition's shard directory by a received snapshot atomically: a crash at any point leaves
the old shard or the new one, never a mix (docs/cluster.md, "Snapshots")."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from restate.cluster.snapshot_format import InstalledSnapshot, SnapshotFormatError, decode, encode

log = logging.getLogger(__name__)

MARKER = "SNAPSHOT"  # in a received directory: written last, so its presence means "received whole"


def incoming_dir(shard: Path) -> Path:
    """Where a snapshot of `shard` is received: a sibling, so the swap is a rename on one file system."""
    return shard.with_name(shard.name + ".incoming")


def retired_dir(shard: Path) -> Path:
    """Where the old shard goes during the swap, until it is deleted."""
    return shard.with_name(shard.name + ".retired")


def fresh_incoming(shard: Path) -> Path:
    """An empty directory to receive a snapshot into (what a previous, unfinished transfer left is deleted)."""
    incoming = incoming_dir(shard)
    if incoming.exists():
        shutil.rmtree(incoming)
    incoming.mkdir(parents=True)
    return incoming


def mark_received(incoming: Path, marker: InstalledSnapshot) -> None:
    """Declares `incoming` complete (its LevelDB closed and synced before): the marker is written to a
    temporary name, fsynced and renamed, then the directory is fsynced, so it is there whole or not at all."""
    temporary = incoming / (MARKER + ".tmp")
    with open(temporary, "wb") as out:
        out.write(encode(marker))
        out.flush()
        os.fsync(out.fileno())
    os.rename(temporary, incoming / MARKER)
    _fsync_dir(incoming)


def received(incoming: Path) -> InstalledSnapshot | None:
    """The marker of a directory that received a whole snapshot; None when there is none (or unreadable)."""
    try:
        return decode(InstalledSnapshot, (incoming / MARKER).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, SnapshotFormatError) as exc:
        log.warning("%s: unreadable snapshot marker (%s): discarded", incoming, exc)
        return None


def settle(shard: Path) -> InstalledSnapshot | None:
    """Run before the shard is opened: finishes the swap of a snapshot received whole (the marker of the
    one installed), discards one received in part and removes a retired shard. Every step is idempotent:
    a crash in the middle of this is finished by the next call.

    The swap: rename shard -> retired, rename incoming -> shard, delete retired. Between the two renames
    there is no shard, and the incoming one with its marker still says what to do."""
    incoming, retired = incoming_dir(shard), retired_dir(shard)
    marker = received(incoming) if incoming.exists() else None
    if incoming.exists() and marker is None:
        log.info("%s: discarding a snapshot that was not received whole", incoming)
        shutil.rmtree(incoming)
    if marker is not None:
        if shard.exists():
            if retired.exists():
                shutil.rmtree(retired)
            os.rename(shard, retired)
        os.rename(incoming, shard)
        _fsync_dir(shard.parent)
        log.info("%s: installed the snapshot from %s at LSN %d", shard, marker.source, marker.applied_lsn)
    if retired.exists():
        shutil.rmtree(retired)
    return marker


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
