"""`/subscriptions`: create, list (filtered by source and sink), get and delete Kafka subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec

from restate.admin import kafka_state
from restate.admin.errors import AdminError, PlainError, coded, not_found
from restate.admin.http import Request, Response, json_response, query_values, require_json
from restate.admin.jsonbody import Field, Mismatch, read_struct, string
from restate.ids import IdError, check_subscription_id
from restate.kafka.definitions import SinkType, Subscription, completed_options
from restate.kafka.uris import Uri, UriError, parse_uri
from restate.schema import Schema, is_exclusive
from restate.serde_json_errors import error_offset, scan, unexpected

if TYPE_CHECKING:
    from restate.admin.app import AdminApp

_SINK_TYPES: dict[str, SinkType] = {"Service": "service", "VirtualObject": "virtual_object", "Workflow": "workflow"}


def _uri(data: bytes, value: object, start: int, end: int) -> object:
    if not isinstance(value, str):
        raise Mismatch(f"invalid type: {unexpected(value)}, expected a string", error_offset(value, start, end))
    try:
        return parse_uri(value)
    except UriError as exc:
        raise Mismatch(str(exc), end) from None


def string_map(data: bytes, value: object, start: int, end: int) -> object:
    """A `{key: string}` map (librdkafka options); a repeated key keeps its last value."""
    if not isinstance(value, dict):
        raise Mismatch(f"invalid type: {unexpected(value)}, expected a map", error_offset(value, start, end))
    result: dict[str, str] = {}
    for member in scan(data[start:end]).members:
        try:
            result[member.key] = cast(str, string(data, member.value, start + member.value_start,
                                                  start + member.value_end))  # fmt: skip
        except Mismatch as exc:
            raise Mismatch(exc.message, exc.offset, f".{member.key}") from None
    return result


_CREATE = [
    Field("source", _uri, optional=False, default=False),
    Field("sink", _uri, optional=False, default=False),
    Field("options", string_map, map_typed=True),
]


def _invalid(kind: str, uri: Uri, reason: str) -> AdminError:
    return coded(400, "META0009", f"invalid {kind} URI '{uri}': {reason}")


def new_subscription(app: AdminApp, body: bytes, subscription_id: str) -> Subscription:
    """The subscription a create request asks for, checked in the real server's order."""
    values = read_struct(body, "CreateSubscriptionRequest", _CREATE)
    source, sink = cast(Uri, values["source"]), cast(Uri, values["sink"])
    options = cast(dict[str, str] | None, values["options"]) or {}
    if source.scheme != "kafka" or not source.authority:
        raise _invalid("source", source, "must have a scheme segment, with supported schemes: [kafka].")
    if sink.scheme != "service" or not sink.authority:
        raise _invalid("sink", sink, "must have a scheme segment, with supported schemes: [service].")
    service, handler = _sink_target(app.schema, sink)
    clusters = kafka_state.all_clusters(app)
    cluster = clusters.get(source.authority)
    if cluster is None:
        available = "[" + ", ".join(msgspec.json.encode(n).decode() for n in clusters) + "]"
        raise AdminError(400, f"Kafka cluster '{source.authority}' not found. Available clusters: {available}")
    svc = app.schema.services[service]
    return Subscription(
        id=subscription_id, cluster=cluster.name, topic=source.rest, service=service, handler=handler,
        sink_type=_SINK_TYPES[svc.ty], options=completed_options(options, cluster, subscription_id),
        exclusive=is_exclusive(svc, svc.handlers[handler]),
    )  # fmt: skip


def _sink_target(schema: Schema, sink: Uri) -> tuple[str, str]:
    service, handler = sink.authority or "", sink.rest
    if schema.handler(service, handler) is None:
        raise _invalid("sink", sink, "cannot find service/handler specified in the sink URI.")
    return service, handler


def subscription_id(req: Request) -> str:
    value = req.params["subscription"]
    try:
        return check_subscription_id(value)
    except IdError as exc:
        raise PlainError(400, f"Invalid URL: Cannot parse `subscription` with value `{value}`: {exc}") from exc


# --- routes


async def create(app: AdminApp, req: Request) -> Response:
    require_json(req)
    async with app.lock:
        sub = new_subscription(app, req.body, app.hooks.new_subscription_id())
        registry = app.kafka
        subscriptions = {**registry.subscriptions, sub.id: sub}
        await kafka_state.commit(app, msgspec.structs.replace(
            registry, version=registry.version + 1, subscriptions=subscriptions))  # fmt: skip
    return json_response(201, kafka_state.subscription_view(sub), [("location", f"subscriptions/{sub.id}")])


async def list_all(app: AdminApp, req: Request) -> Response:
    sinks, sources = query_values(req, "sink"), query_values(req, "source")
    found = [
        kafka_state.subscription_view(sub)
        for sub in app.kafka.subscriptions.values()
        if (not sinks or sub.sink == sinks[-1]) and (not sources or sub.source == sources[-1])
    ]
    return json_response(200, {"subscriptions": found})


async def get(app: AdminApp, req: Request) -> Response:
    sub_id = subscription_id(req)
    sub = app.kafka.subscriptions.get(sub_id)
    if sub is None:
        raise not_found(f"The requested subscription '{sub_id}' does not exist")
    return json_response(200, kafka_state.subscription_view(sub))


async def delete(app: AdminApp, req: Request) -> Response:
    sub_id = subscription_id(req)
    async with app.lock:
        registry = app.kafka
        if sub_id not in registry.subscriptions:
            raise not_found(f"not found in the schema registry: subscription with id '{sub_id}'")
        subscriptions = {k: v for k, v in registry.subscriptions.items() if k != sub_id}
        await kafka_state.commit(app, msgspec.structs.replace(
            registry, version=registry.version + 1, subscriptions=subscriptions))  # fmt: skip
        if any(p.subscription == sub_id for p in app.parked):  # its parked records go with it
            await kafka_state.commit_parked(app, [p for p in app.parked if p.subscription != sub_id])
    return Response(202)
