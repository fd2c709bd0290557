"""Parked Kafka records (`/subscriptions/{id}/parked`): list them, replay one as an invocation, or drop it.

A record is parked by the Kafka process when it cannot become an invocation (an object sink's key that is
not UTF-8): the real server stalls its whole Kafka partition on such a record for ever; we keep it here,
durable, and consume what follows."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, cast

from restate.admin import kafka_state
from restate.admin.errors import AdminError, PlainError, not_found
from restate.admin.http import Request, Response, json_response
from restate.admin.jsonbody import Field, read_struct, string
from restate.admin.subscriptions import subscription_id
from restate.admin.views import timestamp
from restate.ids import invocation_id_text
from restate.kafka.definitions import ParkedRecord, Subscription
from restate.kafka.record_invocation import KafkaRecord, Unusable, producer_id, to_ingest

if TYPE_CHECKING:
    from restate.admin.app import AdminApp

_REPLAY = [Field("key", string)]


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def view(p: ParkedRecord) -> dict[str, object]:
    return {
        "subscription": p.subscription, "topic": p.topic, "partition": p.partition, "offset": p.offset,
        "reason": p.reason, "parked_at": timestamp(p.parked_at_ms), "key_base64": _b64(p.key),
        "value_base64": _b64(p.value),
    }  # fmt: skip


async def park(app: AdminApp, record: ParkedRecord) -> None:
    """Stores a parked record once (the Kafka process re-sends until answered)."""
    async with app.lock:
        if any(p.coordinates == record.coordinates for p in app.parked):
            return
        await kafka_state.commit_parked(app, [*app.parked, record])


def _subscription(app: AdminApp, req: Request) -> Subscription:
    sub_id = subscription_id(req)
    sub = app.kafka.subscriptions.get(sub_id)
    if sub is None:
        raise not_found(f"The requested subscription '{sub_id}' does not exist")
    return sub


def _find(app: AdminApp, req: Request) -> ParkedRecord:
    sub = _subscription(app, req)
    coords = []
    for name in ("partition", "offset"):
        value = req.params[name]
        if not value.isdigit():
            raise PlainError(
                400, f"Invalid URL: Cannot parse `{name}` with value `{value}`: invalid digit found in string"
            )
        coords.append(int(value))
    for p in app.parked:
        if p.coordinates == (sub.id, sub.topic, coords[0], coords[1]):
            return p
    raise not_found(f"Subscription '{sub.id}' has no parked record at partition {coords[0]} offset {coords[1]}")


async def list_parked(app: AdminApp, req: Request) -> Response:
    sub = _subscription(app, req)
    return json_response(200, {"records": [view(p) for p in app.parked if p.subscription == sub.id]})


async def drop(app: AdminApp, req: Request) -> Response:
    found = _find(app, req)
    async with app.lock:
        await kafka_state.commit_parked(app, [p for p in app.parked if p.coordinates != found.coordinates])
    return Response(202)


async def replay(app: AdminApp, req: Request) -> Response:
    """Makes the parked record an invocation; an object sink's key is the body's `key` (else the record's key
    decoded with replacement characters). Once durable, the record is no longer parked."""
    found = _find(app, req)
    sub = app.kafka.subscriptions[found.subscription]
    key = cast(str | None, read_struct(req.body, "ReplayRequest", _REPLAY)["key"]) if req.body.strip() else None
    if key is None and found.key is not None:
        key = found.key.decode("utf-8", "replace")
    record = KafkaRecord(found.topic, found.partition, found.offset, found.key, found.value, found.timestamp_ms,
                         list(found.headers))  # fmt: skip
    made = to_ingest(sub, record, key_override=key if key is not None else "")
    if isinstance(made, Unusable):
        raise AdminError(400, made.reason)
    if app.hooks.ingest is None:
        raise AdminError(503, "the partitions are not connected")
    # A producer of its own: the record's offset is behind its topic partition's, which would skip it.
    producer = f"{producer_id(sub, found.topic, found.partition)}|replay@{found.offset}"
    partition_key = int.from_bytes(made.request.invocation_id[:8], "big")
    await app.hooks.ingest(partition_key, producer, [made])
    async with app.lock:
        await kafka_state.commit_parked(app, [p for p in app.parked if p.coordinates != found.coordinates])
    return json_response(200, {"invocation_id": invocation_id_text(made.request.invocation_id)})
