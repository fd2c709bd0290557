"""`/kafka-clusters`: dynamic Kafka clusters (create, list, describe, patch, delete) next to the static ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec

from restate.admin import kafka_state
from restate.admin.errors import AdminError, not_found
from restate.admin.http import Request, Response, bool_query, json_response, require_json
from restate.admin.jsonbody import Field, Mismatch, read_struct
from restate.admin.subscriptions import string_map
from restate.kafka.definitions import BROKER_KEYS, KafkaCluster, KafkaRegistry
from restate.kafka.uris import UriError, parse_uri
from restate.serde_json_errors import error_offset, unexpected

if TYPE_CHECKING:
    from restate.admin.app import AdminApp


def _name(data: bytes, value: object, start: int, end: int) -> object:
    """A cluster name: it goes in `kafka://NAME/topic`, so it must be a URI authority."""
    if not isinstance(value, str):
        raise Mismatch(f"invalid type: {unexpected(value)}, expected a string", error_offset(value, start, end))
    try:
        uri = parse_uri(value)
    except UriError as exc:
        raise Mismatch(str(exc), end) from None
    if uri.scheme is not None or uri.authority != value:
        raise Mismatch("invalid format", end)
    return value


_CREATE = [
    Field("name", _name, optional=False, default=False),
    Field("properties", string_map, optional=False, default=False, map_typed=True),
]
_PATCH = [Field("properties", string_map, optional=False, default=False, map_typed=True)]


def _check_brokers(name: str, properties: dict[str, str]) -> None:
    if not any(key in properties for key in BROKER_KEYS):
        raise AdminError(
            400, f"kafka cluster '{name}' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'"
        )


def _static_conflict(name: str) -> AdminError:
    return AdminError(
        409,
        f"kafka cluster '{name}' cannot be updated, because it was defined in the restate configuration file. "
        "Update the configuration file directly, or remove the configuration file",
    )


def _with_clusters(registry: KafkaRegistry, clusters: dict[str, KafkaCluster]) -> KafkaRegistry:
    return msgspec.structs.replace(registry, version=registry.version + 1, clusters=clusters)


async def create(app: AdminApp, req: Request) -> Response:
    require_json(req)
    values = read_struct(req.body, "CreateKafkaClusterRequest", _CREATE)
    name, properties = cast(str, values["name"]), cast(dict[str, str], values["properties"])
    async with app.lock:
        if name in kafka_state.static_clusters(app):
            raise AdminError(
                409,
                f"kafka cluster '{name}' conflicts with static configuration. Cluster names in schema registry "
                "cannot override statically configured clusters.",
            )
        if name in app.kafka.clusters:
            raise AdminError(409, f"kafka cluster '{name}' already exists in schema registry")
        _check_brokers(name, properties)
        cluster = KafkaCluster(name, properties, app.hooks.now_ms())
        await kafka_state.commit(app, _with_clusters(app.kafka, {**app.kafka.clusters, name: cluster}))
    return json_response(201, kafka_state.cluster_view(cluster), [("location", f"kafka-clusters/{name}")])


def _described(app: AdminApp, cluster: KafkaCluster, with_subscriptions: bool) -> dict[str, object]:
    view = kafka_state.cluster_view(cluster)
    subs = [s for s in app.kafka.subscriptions.values() if s.cluster == cluster.name] if with_subscriptions else []
    view["subscriptions"] = [kafka_state.subscription_view(s) for s in subs]
    info = kafka_state.static_info(cluster)
    if info is not None:
        view["info"] = info
    return view


async def list_all(app: AdminApp, req: Request) -> Response:
    views = []
    for cluster in kafka_state.all_clusters(app).values():
        view = kafka_state.cluster_view(cluster)
        info = kafka_state.static_info(cluster)
        if info is not None:
            view["info"] = info
        views.append(view)
    return json_response(200, {"clusters": views})


async def get(app: AdminApp, req: Request) -> Response:
    name = req.params["cluster"]
    cluster = kafka_state.all_clusters(app).get(name)
    if cluster is None:
        raise not_found(f"The requested Kafka cluster '{name}' does not exist")
    return json_response(200, _described(app, cluster, bool_query(req, "include_subscriptions") is True))


async def patch(app: AdminApp, req: Request) -> Response:
    name = req.params["cluster"]
    require_json(req)
    values = read_struct(req.body, "UpdateKafkaClusterRequest", _PATCH)
    properties = cast(dict[str, str], values["properties"])
    async with app.lock:
        if name in kafka_state.static_clusters(app) and name not in app.kafka.clusters:
            raise _static_conflict(name)
        existing = app.kafka.clusters.get(name)
        if existing is None:
            raise not_found(f"The requested Kafka cluster '{name}' does not exist")
        _check_brokers(name, properties)
        cluster = msgspec.structs.replace(existing, properties=properties)  # replaced, not merged
        await kafka_state.commit(app, _with_clusters(app.kafka, {**app.kafka.clusters, name: cluster}))
    return json_response(200, kafka_state.cluster_view(cluster))


async def delete(app: AdminApp, req: Request) -> Response:
    name = req.params["cluster"]
    force = bool_query(req, "force") is True
    async with app.lock:
        if name in kafka_state.static_clusters(app) and name not in app.kafka.clusters:
            raise _static_conflict(name)
        if name not in app.kafka.clusters:
            raise not_found(f"not found in the schema registry: kafka cluster named '{name}'")
        users = [s for s in app.kafka.subscriptions.values() if s.cluster == name]
        if users and not force:
            raise AdminError(
                409,
                f"Removing the kafka cluster '{name}' leads to subscription '{users[0].id}' being orphan. "
                "Remove the subscription first, or use the 'force' flag.",
            )
        # Forced: the subscriptions stay, orphaned (their consumers stop), as the real server leaves them.
        clusters = {k: v for k, v in app.kafka.clusters.items() if k != name}
        await kafka_state.commit(app, _with_clusters(app.kafka, clusters))
    return Response(202)
