"""The values a cluster keeps in etcd: versioned, map-encoded msgpack structs (see docs/cluster.md)."""

from __future__ import annotations

from typing import TypeVar, cast

import msgspec

VERSION = 1


class EtcdRecordError(ValueError):
    """Bytes in etcd that are no record this release reads (corrupt, or a newer format)."""


class NodeRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A live node (its key is attached to the node's lease) and where to reach it."""

    v: int = VERSION
    name: str
    bus_address: str  # host:port of its ZeroMQ tcp endpoint
    ingress_address: str
    admin_address: str


class LeaderRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The current leader of a partition (its key is attached to the leader's lease)."""

    v: int = VERSION
    node: str
    epoch: int


class LogRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One log entry: the bytes of `command_log.encode_entry`, or, when `chunks` > 0, nothing here and
    the bytes in that many chunk keys. `epoch` is the writer's (for the operator; the fence is etcd's)."""

    v: int = VERSION
    epoch: int
    entry: bytes = b""
    chunks: int = 0


class PlacementRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The nodes holding a replica of a partition, written first by the first node to start (the first writer
    wins), changed only by `restate cluster move-replica`."""

    v: int = VERSION
    replicas: list[str]


_encoder = msgspec.msgpack.Encoder()
_decoders = {kind: msgspec.msgpack.Decoder(kind) for kind in (NodeRecord, LeaderRecord, LogRecord, PlacementRecord)}


T = TypeVar("T", NodeRecord, LeaderRecord, LogRecord, PlacementRecord)


def encode(record: NodeRecord | LeaderRecord | LogRecord | PlacementRecord) -> bytes:
    return _encoder.encode(record)


def decode(kind: type[T], data: bytes) -> T:
    try:
        record = cast(T, _decoders[kind].decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EtcdRecordError(f"not a {kind.__name__}: {exc}") from None
    if record.v != VERSION:
        raise EtcdRecordError(f"{kind.__name__} format version {record.v} is unknown (this release reads {VERSION})")
    return record


def encode_int(value: int) -> bytes:
    """Counters (epochs, LSNs) are decimal ASCII: an etcd value compare needs one spelling per number."""
    return str(value).encode()


def decode_int(data: bytes) -> int:
    if not data.isdigit():
        raise EtcdRecordError(f"not a counter: {data[:32]!r}")
    return int(data)
