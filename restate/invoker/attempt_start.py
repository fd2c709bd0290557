"""Builds an attempt's request from stored data: StartMessage + the journal to replay.

Reads one consistent snapshot of the shard (restate.storage.view) and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import xxhash

from restate import ids
from restate.protocol import MessageType, encode_header
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.messages import content_type
from restate.storage.records import InvocationStatus
from restate.storage.state_cache import EncodedState, StateCache
from restate.storage.view import PartitionView, Reader

EAGER_STATE_LIMIT = 32 * 1024 * 1024


@dataclass(slots=True)
class StoredInvocation:
    """A consistent view of one invocation at attempt start."""

    status: InvocationStatus
    journal: list[bytes]
    state: EncodedState | None  # None for plain services


def state_entry(name: bytes, value: bytes) -> bytes:
    """One entry of the StartMessage's `state_map`, encoded as a field of it: StartMessages concatenate
    as protobuf messages merge, so the encoded entries append to an encoded StartMessage as they are."""
    return pb.StartMessage(state_map=[pb.StartMessage.StateEntry(key=name, value=value)]).SerializeToString()


def new_state_cache() -> StateCache:
    return StateCache(state_entry)


def load(snapshot: Reader, invocation_id: bytes, cache: StateCache | None = None) -> StoredInvocation | None:
    """The invocation's status, journal and (for keyed services) encoded state, from one consistent snapshot
    (the state from `cache` when given: call this right after taking the snapshot, before any commit)."""
    view = PartitionView(snapshot)
    status = view.status(invocation_id)
    if status is None:
        return None
    target = status.target
    state = None
    if target.key is not None:
        state = (cache if cache is not None else new_state_cache()).get(snapshot, target.service, target.key)
    return StoredInvocation(status, view.journal_frames(invocation_id), state)


def headers(
    invocation_id: bytes, status: InvocationStatus, version: int, extra: dict[str, str],
    trace: list[tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """The /invoke request's headers in the real server's order; `trace`: traceparent and tracestate."""
    ct = content_type(version)
    out = [
        ("content-type", ct),
        ("accept", ct),
        ("x-restate-invocation-id", str(ids.InvocationId.from_bytes(invocation_id))),
    ]
    if status.target.key is not None:
        out.append(("x-restate-service-key", quote(status.target.key, safe="")))
    if trace:
        out.extend(trace)
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
        duration_since_last_stored_entry=max(0, now_ms - status.journal.last_appended_at_ms),
        random_seed=xxhash.xxh3_64_intdigest(invocation_id),
    )
    if status.target.key is not None:
        start.key = status.target.key
    state = stored.state
    # Above the limit no state is sent: partial, the SDK asks for each key it reads (GetLazyState).
    eager = state is not None and not lazy_state and state.size <= EAGER_STATE_LIMIT
    start.partial_state = not eager
    payload = start.SerializeToString()
    if eager and state is not None:
        payload += state.encoded
    return encode_header(MessageType.START, len(payload)) + payload + b"".join(stored.journal)
