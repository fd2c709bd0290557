"""The registry of LevelDB key prefixes and the key encodings: the one owner of the key format.

A prefix once assigned must never change or be reused; retire it by moving it to RETIRED.
Integers are big-endian so that LevelDB's byte order is their numeric order.
"""

from __future__ import annotations

import functools
import struct
from enum import Enum


class KeyKind(bytes, Enum):
    # partition stores
    FSM = b"fs"  # partition-wide counters (outbox seq, inbox seq, ...)
    DEDUP = b"de"  # last applied sequence number per producer
    STATUS = b"is"  # invocation status by invocation id
    JOURNAL = b"jo"  # journal entries by (invocation id, index)
    STATE = b"st"  # user state by (service, key, state key)
    LOCK = b"lk"  # the invocation holding a virtual object / workflow key
    INBOX = b"ib"  # invocations waiting for a key, by (service, key, seq)
    TIMERS = b"ti"  # durable timers by (wake-up time, invocation id, completion id)
    OUTBOX = b"ob"  # messages to other partitions by seq
    PROMISE = b"pr"  # workflow durable promises by (workflow, key, name)
    LIVE = b"lv"  # invocations not completed, by invocation id -> status name (recovery reads only these)
    # metadata store
    META = b"me"  # schema and cluster settings


RETIRED: frozenset[bytes] = frozenset()

# The prefixes as plain bytes for the hot paths: `KeyKind.X.value` goes through a descriptor each time.
_FSM, _DEDUP, _STATUS, _JOURNAL = KeyKind.FSM.value, KeyKind.DEDUP.value, KeyKind.STATUS.value, KeyKind.JOURNAL.value
_TIMERS, _OUTBOX, _LIVE = KeyKind.TIMERS.value, KeyKind.OUTBOX.value, KeyKind.LIVE.value

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def read_u32(data: bytes, offset: int = 0) -> int:
    return int(_U32.unpack_from(data, offset)[0])


def read_u64(data: bytes, offset: int = 0) -> int:
    return int(_U64.unpack_from(data, offset)[0])


def lp(text: str | bytes) -> bytes:
    """A length-prefixed string, so composite keys never collide and sort by component."""
    raw = text.encode() if isinstance(text, str) else text
    return _U32.pack(len(raw)) + raw


def fsm_key(name: str) -> bytes:
    return _FSM + name.encode()


def dedup_key(producer: str) -> bytes:
    return _DEDUP + producer.encode()


def status_key(invocation_id: bytes) -> bytes:
    return _STATUS + invocation_id


def live_key(invocation_id: bytes) -> bytes:
    return _LIVE + invocation_id


def journal_key(invocation_id: bytes, index: int) -> bytes:
    return _JOURNAL + invocation_id + _U32.pack(index)


def journal_prefix(invocation_id: bytes) -> bytes:
    return _JOURNAL + invocation_id


@functools.lru_cache(maxsize=4096)  # the same few services and hot keys, many times per batch
def service_key_prefix(kind: KeyKind, service: str, key: str) -> bytes:
    return kind.value + lp(service) + lp(key)


def state_key(service: str, key: str, state_key: bytes) -> bytes:
    return service_key_prefix(KeyKind.STATE, service, key) + state_key


def lock_key(service: str, key: str) -> bytes:
    return service_key_prefix(KeyKind.LOCK, service, key)


def inbox_key(service: str, key: str, seq: int) -> bytes:
    return service_key_prefix(KeyKind.INBOX, service, key) + _U64.pack(seq)


def promise_key(service: str, key: str, name: str) -> bytes:
    return service_key_prefix(KeyKind.PROMISE, service, key) + name.encode()


def timer_key(wake_up_ms: int, invocation_id: bytes, completion_id: int) -> bytes:
    return _TIMERS + _U64.pack(wake_up_ms) + invocation_id + _U32.pack(completion_id)


def parse_timer_key(key: bytes) -> tuple[int, bytes, int]:
    return read_u64(key, 2), bytes(key[10:34]), read_u32(key, 34)


def outbox_key(destination: int, seq: int) -> bytes:
    return _OUTBOX + _U32.pack(destination) + _U64.pack(seq)


def parse_outbox_key(key: bytes) -> tuple[int, int]:
    return read_u32(key, 2), read_u64(key, 6)


def meta_key(name: str) -> bytes:
    return KeyKind.META.value + name.encode()
