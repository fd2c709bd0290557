"""The bytes of a partition snapshot: the chunks a replica sends and the marker of a shard received whole."""

from __future__ import annotations

from typing import TypeVar, cast

import msgspec

VERSION = 1


class SnapshotFormatError(ValueError):
    """Bytes that are no snapshot chunk or marker this release reads (corrupt, or a newer format)."""


class SnapshotChunk(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One piece of a consistent point-in-time copy of a partition's shard, in key order (docs/cluster.md,
    "Snapshots"). Every chunk repeats what the snapshot covers, so a receiver checks they belong together."""

    v: int = VERSION
    partition: int
    applied_lsn: int  # the last log entry applied to the shard the snapshot was taken of
    store_format: int  # the shard's store format (restate.storage.codec.STORE_FORMAT of the sender)
    seq: int  # 0, 1, 2, ...: the receiver takes them in this order
    keys: list[bytes]  # ascending, each greater than every key of the chunks before
    values: list[bytes]  # one per key
    last: bool = False
    total: int = 0  # on the last chunk: the number of keys of the whole snapshot


class InstalledSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The marker file of a shard directory that received a whole snapshot (written last, fsynced): its
    presence is what makes the received directory the partition's shard (restate.cluster.shard_swap)."""

    v: int = VERSION
    partition: int
    applied_lsn: int
    source: str  # the node it was copied from
    keys: int


_encoder = msgspec.msgpack.Encoder()
_decoders = {kind: msgspec.msgpack.Decoder(kind) for kind in (SnapshotChunk, InstalledSnapshot)}
T = TypeVar("T", SnapshotChunk, InstalledSnapshot)


def encode(record: SnapshotChunk | InstalledSnapshot) -> bytes:
    return _encoder.encode(record)


def decode(kind: type[T], data: bytes) -> T:
    """Reads `kind`; SnapshotFormatError for anything else, a field it does not know or another version."""
    try:
        version = msgspec.msgpack.decode(data, type=_Versioned).v
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotFormatError(f"not a {kind.__name__}: {exc}") from None
    if version != VERSION:
        raise SnapshotFormatError(f"{kind.__name__} format version {version} is unknown (this release reads {VERSION})")
    try:
        record = cast(T, _decoders[kind].decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotFormatError(f"not a {kind.__name__}: {exc}") from None
    if isinstance(record, SnapshotChunk) and len(record.keys) != len(record.values):
        raise SnapshotFormatError(f"snapshot chunk {record.seq}: {len(record.keys)} keys, {len(record.values)} values")
    return record


class _Versioned(msgspec.Struct):
    """Only the version, read first: a newer format is refused for its version, not for a field."""

    v: int
