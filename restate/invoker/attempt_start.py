"""Builds an attempt's request from stored data: StartMessage + the journal to replay (pure, given a snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import msgspec
import xxhash

from restate import ids
from restate.partition.model import InvocationStatus
from restate.protocol import encode_message
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.messages import content_type
from restate.storage import keys
from restate.storage.db import Snapshot

EAGER_STATE_LIMIT = 32 * 1024 * 1024
_status_decoder = msgspec.msgpack.Decoder(InvocationStatus)


@dataclass(slots=True)
class StoredInvocation:
    """A consistent view of one invocation at attempt start."""

    status: InvocationStatus
    journal: list[bytes]
    state: list[tuple[bytes, bytes]] | None  # None for plain services


def load(snapshot: Snapshot, invocation_id: bytes) -> StoredInvocation | None:
    raw = snapshot.get(keys.status_key(invocation_id))
    if raw is None:
        return None
    status = _status_decoder.decode(raw)
    journal = [frame for _, frame in snapshot.scan(keys.journal_prefix(invocation_id))]
    state = None
    target = status.target
    if target.key is not None:
        prefix = keys.service_key_prefix(keys.KeyKind.STATE, target.service, target.key)
        state = [(k[len(prefix) :], v) for k, v in snapshot.scan(prefix)]
    return StoredInvocation(status, journal, state)


def headers(
    invocation_id: bytes, status: InvocationStatus, version: int, extra: dict[str, str]
) -> list[tuple[str, str]]:
    ct = content_type(version)
    out = [
        ("content-type", ct),
        ("accept", ct),
        ("x-restate-invocation-id", str(ids.InvocationId.from_bytes(invocation_id))),
    ]
    if status.target.key is not None:
        out.append(("x-restate-service-key", quote(status.target.key, safe="")))
    out.extend(extra.items())
    return out


def body(
    invocation_id: bytes,
    stored: StoredInvocation,
    *,
    now_ms: int,
    retry_count: int,
    lazy_state: bool,
) -> bytes:
    """StartMessage followed by every stored journal entry, in order."""
    status = stored.status
    start = pb.StartMessage(
        id=invocation_id,
        debug_id=str(ids.InvocationId.from_bytes(invocation_id)),
        known_entries=len(stored.journal),
        retry_count_since_last_stored_entry=retry_count,
        duration_since_last_stored_entry=max(0, now_ms - status.last_entry_at_ms),
        random_seed=xxhash.xxh3_64_intdigest(invocation_id),
    )
    if status.target.key is not None:
        start.key = status.target.key
    start.partial_state = True
    if stored.state is not None and not lazy_state:
        size = 0
        complete = True
        for name, value in stored.state:
            size += len(name) + len(value)
            if size > EAGER_STATE_LIMIT:
                complete = False
                break
            start.state_map.add(key=name, value=value)
        start.partial_state = not complete
    return encode_message(start) + b"".join(stored.journal)
