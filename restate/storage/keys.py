"""The registry of LevelDB key prefixes and the key encodings: the one module that knows key layouts.

Every key starts with its 2-byte kind. A prefix once assigned must never change or be reused; retire it
by moving it to RETIRED. Integers are big-endian so that LevelDB's byte order is their numeric order;
service names and object keys are length-prefixed so that composite keys never collide. Other modules
build and take keys apart with the functions here, never by slicing.
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
    LIVE = b"lv"  # invocations not completed, by invocation id (recovery reads only these)
    # metadata store
    META = b"me"  # schema and cluster settings


RETIRED: frozenset[bytes] = frozenset()

# The prefixes as plain bytes for the hot paths: `KeyKind.X.value` goes through a descriptor each time.
_FSM, _DEDUP, _STATUS, _JOURNAL = KeyKind.FSM.value, KeyKind.DEDUP.value, KeyKind.STATUS.value, KeyKind.JOURNAL.value
_TIMERS, _OUTBOX, _LIVE = KeyKind.TIMERS.value, KeyKind.OUTBOX.value, KeyKind.LIVE.value

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
KIND_LEN = 2
INVOCATION_ID_LEN = 24  # restate.ids.InvocationId.to_bytes: 8-byte partition key + 16-byte uuid

# Names of the FSM rows (partition-wide values).
FORMAT = "format"  # the store-wide format version (records.StoreFormatRecord)
INBOX_SEQ = "inbox"  # the inbox's sequence (records.SequenceRecord)
QUEUE_COUNTS = "queue-counts"  # records.QueueCountsRecord
APPLIED_LSN = "applied-lsn"  # cluster mode: the last log entry applied (records.SequenceRecord)
# FSM rows of store format 1, rewritten by the upgrade to format 2.
LEGACY_LIVE_INDEX_MARKER = "live-index"
LEGACY_INBOX_COUNT = "stats/inbox"
LEGACY_TIMERS_COUNT = "stats/timers"


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


def kind_of(key: bytes) -> bytes:
    """The 2-byte kind (KeyKind value) a key starts with."""
    return bytes(key[:KIND_LEN])


def fsm_key(name: str) -> bytes:
    return _FSM + name.encode()


def fsm_name(key: bytes) -> str:
    """The name of an FSM row."""
    return bytes(key[KIND_LEN:]).decode()


def outbox_seq_name(destination: int) -> str:
    """The FSM row of the outbox sequence towards one partition."""
    return f"outbox/{destination}"


def is_outbox_seq_name(name: str) -> bool:
    return name.startswith("outbox/")


def dedup_producer(source: int) -> str:
    """The dedup row's name of a partition that ships us its outbox."""
    return f"p{source}"


def kafka_dedup_producer(producer: str) -> str:
    """The dedup row's name of a Kafka producer (a subscription's topic partition); never `p<N>`."""
    return f"k{producer}"


def dedup_key(producer: str) -> bytes:
    return _DEDUP + producer.encode()


def status_key(invocation_id: bytes) -> bytes:
    return _STATUS + invocation_id


def live_key(invocation_id: bytes) -> bytes:
    return _LIVE + invocation_id


def invocation_of(key: bytes) -> bytes:
    """The invocation id of a status or live-index key."""
    return bytes(key[KIND_LEN:])


def journal_key(invocation_id: bytes, index: int) -> bytes:
    return _JOURNAL + invocation_id + _U32.pack(index)


def journal_prefix(invocation_id: bytes) -> bytes:
    return _JOURNAL + invocation_id


def journal_index(key: bytes) -> int:
    """The entry index of a journal key."""
    return read_u32(key, len(key) - 4)


@functools.lru_cache(maxsize=4096)  # the same few services and hot keys, many times per batch
def service_key_prefix(kind: KeyKind, service: str, key: str) -> bytes:
    return kind.value + lp(service) + lp(key)


def state_key(service: str, key: str, state_key: bytes) -> bytes:
    return service_key_prefix(KeyKind.STATE, service, key) + state_key


def lock_key(service: str, key: str) -> bytes:
    return service_key_prefix(KeyKind.LOCK, service, key)


def service_prefix(kind: KeyKind, service: str) -> bytes:
    """Every key of one service under a keyed kind (state, inbox, lock, promise)."""
    return kind.value + lp(service)


def split_keyed(key: bytes) -> tuple[str, str, bytes]:
    """(service, object key, the rest) of a key built on `service_key_prefix` (invalid UTF-8 replaced)."""
    offset = KIND_LEN
    n = read_u32(key, offset)
    service = bytes(key[offset + 4 : offset + 4 + n]).decode("utf-8", "replace")
    offset += 4 + n
    m = read_u32(key, offset)
    object_key = bytes(key[offset + 4 : offset + 4 + m]).decode("utf-8", "replace")
    return service, object_key, bytes(key[offset + 4 + m :])


def inbox_key(service: str, key: str, seq: int) -> bytes:
    return service_key_prefix(KeyKind.INBOX, service, key) + _U64.pack(seq)


def inbox_seq(rest: bytes) -> int:
    """The sequence number in the rest of an inbox key (see split_keyed)."""
    return read_u64(rest)


def promise_key(service: str, key: str, name: str) -> bytes:
    return service_key_prefix(KeyKind.PROMISE, service, key) + name.encode()


def timer_key(wake_up_ms: int, invocation_id: bytes, completion_id: int) -> bytes:
    return _TIMERS + _U64.pack(wake_up_ms) + invocation_id + _U32.pack(completion_id)


_TIMER_ID = KIND_LEN + 8
_TIMER_COMPLETION = _TIMER_ID + INVOCATION_ID_LEN


def parse_timer_key(key: bytes) -> tuple[int, bytes, int]:
    """(wake-up time, invocation id, completion id) of a timer key."""
    return read_u64(key, KIND_LEN), bytes(key[_TIMER_ID:_TIMER_COMPLETION]), read_u32(key, _TIMER_COMPLETION)


def timers_until(until_ms: int) -> tuple[bytes, bytes]:
    """The key range [start, stop) of the timers due at or before `until_ms`."""
    return _TIMERS, _TIMERS + _U64.pack(until_ms + 1)


def outbox_key(destination: int, seq: int) -> bytes:
    return _OUTBOX + _U32.pack(destination) + _U64.pack(seq)


def parse_outbox_key(key: bytes) -> tuple[int, int]:
    """(destination partition, sequence number) of an outbox key."""
    return read_u32(key, KIND_LEN), read_u64(key, KIND_LEN + 4)


def meta_key(name: str) -> bytes:
    return KeyKind.META.value + name.encode()
