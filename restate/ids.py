"""Identifiers in Restate's formats: invocation, deployment and awakeable ids, and partition keys."""

from __future__ import annotations

import base64
import functools
import os
import struct
from dataclasses import dataclass

import xxhash

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_PK_CHARS = 11
_UUID_CHARS = 22
_U64 = (1 << 64) - 1


class IdError(ValueError):
    """A string is not a well-formed Restate identifier; the message is the reason Restate gives."""


# Two base62 digits per step: every id is formatted on the hot path, and big-int divmod is the cost.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _b62_encode(value: int, width: int) -> str:
    pairs = []
    while value:
        value, rem = divmod(value, 3844)
        pairs.append(_PAIRS[rem])
    return "".join(reversed(pairs)).lstrip("0").rjust(width, "0")


def _b62_decode(text: str) -> int:
    value = 0
    for ch in text:
        idx = _INDEX.get(ch)
        if idx is None:
            raise IdError(f"invalid base62 character {ch!r}")
        value = value * 62 + idx
    return value


def _split_prefix(text: str, prefix: str) -> str:
    """Checks the `<prefix>_1` header the way Restate reports errors and returns the body."""
    sep = text.find("_")
    if sep < 0:
        raise IdError("bad format")
    if text[:sep] != prefix:
        raise IdError("bad format")
    body = text[sep + 1 :]
    if not body.startswith("1"):
        raise IdError("unrecognized codec version")
    return body[1:]


# Restate byte-swaps each integer of the id (to_be on little-endian hosts) before base62-encoding it,
# so the printed form is the base62 of the little-endian reading of the big-endian bytes.
def _encode_bytes(raw: bytes, width: int) -> str:
    return _b62_encode(int.from_bytes(raw, "little"), width)


def _decode_bytes(text: str, size: int) -> bytes:
    value = _b62_decode(text)
    if value >> (size * 8):
        raise IdError("bad format")
    return value.to_bytes(size, "little")


def partition_key_for(key: str | bytes) -> int:
    """The 64-bit partition key of an object/workflow key (xxh3)."""
    data = key.encode() if isinstance(key, str) else key
    return xxhash.xxh3_64_intdigest(data)


def random_partition_key() -> int:
    return int.from_bytes(os.urandom(8), "big")


def partition_for(partition_key: int, num_partitions: int) -> int:
    """Partition i owns the i-th of N equal ranges of the 64-bit key space."""
    return (partition_key * num_partitions) >> 64


@dataclass(frozen=True, slots=True)
class InvocationId:
    """An invocation id: 8-byte partition key + 16-byte uuid."""

    partition_key: int
    uuid: bytes

    @classmethod
    def new(cls, partition_key: int | None = None) -> InvocationId:
        pk = random_partition_key() if partition_key is None else partition_key
        return cls(pk, os.urandom(16))

    @classmethod
    def deterministic(cls, partition_key: int, *parts: str) -> InvocationId:
        """Derives the id from a target and idempotency key, so repeats map to the same invocation."""
        seed = "\x00".join(parts).encode()
        digest = xxhash.xxh3_128_digest(seed)
        return cls(partition_key, digest)

    @classmethod
    def from_bytes(cls, raw: bytes) -> InvocationId:
        if len(raw) != 24:
            raise IdError("bad format")
        return cls(struct.unpack(">Q", raw[:8])[0], bytes(raw[8:]))

    @classmethod
    def parse(cls, text: str) -> InvocationId:
        body = _split_prefix(text, "inv")
        if len(body) != _PK_CHARS + _UUID_CHARS:
            raise IdError("bad format")
        pk_raw = _decode_bytes(body[:_PK_CHARS], 8)
        uuid = _decode_bytes(body[_PK_CHARS:], 16)
        return cls(struct.unpack(">Q", pk_raw)[0], uuid)

    def to_bytes(self) -> bytes:
        return struct.pack(">Q", self.partition_key & _U64) + self.uuid

    def __str__(self) -> str:
        return _format_invocation_id(self.partition_key, self.uuid)


def workflow_run_id(workflow: str, key: str) -> InvocationId:
    """The id of a workflow's `run`: one per (workflow, key), so it runs at most once."""
    return InvocationId.deterministic(partition_key_for(key), "wf", workflow, key)


def idempotent_id(service: str, key: str | None, handler: str, idempotency_key: str) -> InvocationId:
    """The id of a request with an idempotency key: the same (target, key) always maps to it."""
    pk = partition_key_for(key if key is not None else idempotency_key)
    return InvocationId.deterministic(pk, service, key or "", handler, idempotency_key)


@functools.lru_cache(maxsize=4096)  # an id is printed several times while its invocation is in flight
def _format_invocation_id(partition_key: int, uuid: bytes) -> str:
    pk_raw = struct.pack(">Q", partition_key & _U64)
    return "inv_1" + _encode_bytes(pk_raw, _PK_CHARS) + _encode_bytes(uuid, _UUID_CHARS)


def invocation_id_text(raw: bytes) -> str:
    """The `inv_1...` form of a 24-byte binary invocation id."""
    return _format_invocation_id(int.from_bytes(raw[:8], "big"), bytes(raw[8:24]))


def new_deployment_id() -> str:
    return "dp_1" + _encode_bytes(os.urandom(16), _UUID_CHARS)


def check_deployment_id(text: str) -> str:
    body = _split_prefix(text, "dp")
    if len(body) != _UUID_CHARS:
        raise IdError("bad format")
    _decode_bytes(body, 16)
    return text


def awakeable_id(invocation_id: InvocationId, signal_index: int) -> str:
    raw = invocation_id.to_bytes() + struct.pack(">I", signal_index)
    return "sign_1" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_awakeable_id(text: str) -> tuple[InvocationId, int]:
    """Returns (invocation id, signal index) of a `sign_1...` id."""
    sep = text.find("_")
    if sep < 0 or text[:sep] not in ("sign", "prom"):
        raise IdError("bad format")
    body = text[sep + 1 :]
    if not body.startswith("1"):
        raise IdError("unrecognized codec version")
    encoded = body[1:]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError) as exc:
        raise IdError("bad format") from exc
    if len(raw) != 28:
        raise IdError("bad format")
    return InvocationId.from_bytes(raw[:24]), struct.unpack(">I", raw[24:])[0]


# Prefixes of Restate's other resource ids: a subscription path holding one of them is of the wrong type.
_RESOURCE_PREFIXES = frozenset({"inv", "dp", "sub", "sign", "prom", "snap", "pid", "lsn", "st"})


def new_subscription_id() -> str:
    return "sub_1" + _encode_bytes(os.urandom(16), _UUID_CHARS)


def check_subscription_id(text: str) -> str:
    """A `sub_1...` id as it was given; IdError with the real server's reason otherwise."""
    prefix, sep, _ = text.partition("_")
    if not sep:
        raise IdError("bad format")
    if prefix != "sub":
        raise IdError("id doesn't match the expected type" if prefix in _RESOURCE_PREFIXES else "bad format")
    body = _split_prefix(text, "sub")
    if len(body) != _UUID_CHARS:
        raise IdError("bad format")
    try:
        _decode_bytes(body, 16)
    except IdError:
        raise IdError("base62 decode error") from None
    return text
