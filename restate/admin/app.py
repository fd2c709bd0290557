"""The admin REST API as a small ASGI app: a route table mounted at `/`, `/v2`, `/v3` and `/v4`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from restate import metrics
from restate.admin import (
    deployment_update,
    discovery,
    invocations,
    kafka_clusters,
    parked_records,
    registry,
    services,
    subscriptions,
    ui,
    views,
)
from restate.admin.admin_openapi import admin_openapi_json
from restate.admin.errors import AdminError, PlainError, discovery_failed, not_found
from restate.admin.http import Handler, Request, Response, bool_query, error_response, json_response, require_json
from restate.admin.invocations import Partitions, Unconnected
from restate.admin.manifest import Discovered
from restate.admin.openapi import openapi_json, service_openapi
from restate.config import Config
from restate.ids import IdError, check_deployment_id, new_deployment_id, new_subscription_id
from restate.kafka.definitions import KafkaRegistry, ParkedRecord
from restate.schema import Schema, ServiceSchema
from restate.wire import Done, IngestRecord

log = logging.getLogger(__name__)

SERVER_VERSION = "1.7.12"
MIN_API_VERSION, MAX_API_VERSION = 2, 4
MAX_BODY = 2 * 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
FEATURES = (
    "protocol_v7", "invoker_yield", "vqueues", "scoped_virtual_objects", "vqueues_migration_skip_completed",
    "vqueues_async_refill", "preflight_invocation_termination_retention", "scoped_promise_table_migration",
    "kafka_scope", "unique_random_seeds", "scoped_state_table_migration", "vqueue_obsolete_cleanup",
)  # fmt: skip
_V1_TEXT = "Unsupported Admin API version V1. This server supports versions between V2 and V4."

Discover = Callable[[str, dict[str, str], bool], Awaitable[Discovered]]
SchemaHook = Callable[[Schema], Awaitable[None]]
KafkaHook = Callable[[KafkaRegistry], Awaitable[None]]
Asgi = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _noop(schema: Schema) -> None:
    return None


async def _noop_kafka(registry: KafkaRegistry) -> None:
    return None


async def _noop_parked(records: list[ParkedRecord]) -> None:
    return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AdminHooks:
    """The admin app's effects: discovery, durable storage, and publishing to the other processes."""

    discover: Discover = discovery.discover
    persist: SchemaHook = _noop
    publish: SchemaHook = _noop
    now_ms: Callable[[], int] = _now_ms
    new_id: Callable[[], str] = new_deployment_id
    partitions: Partitions = field(default_factory=Unconnected)
    persist_kafka: KafkaHook = _noop_kafka
    persist_parked: Callable[[list[ParkedRecord]], Awaitable[None]] = _noop_parked
    ingest: Callable[[int, str, list[IngestRecord]], Awaitable[Done]] | None = None  # replays of parked records
    publish_kafka: KafkaHook = _noop_kafka
    new_subscription_id: Callable[[], str] = new_subscription_id
    # table scans for `POST /query` (restate.admin.query.scan.Scanner); None: over ZeroMQ, on first use
    scanner: Any = None


def _split(path: str) -> list[str]:
    return path.split("/")[1:] if path.startswith("/") else path.split("/")


def _route_match(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            if not actual:
                return None
            params[expected[1:-1]] = unquote(actual)
        elif expected != actual:
            return None
    return params


class AdminApp:
    """ASGI app over one in-memory Schema; every committed change goes through `hooks.persist/publish`."""

    def __init__(
        self,
        schema: Schema,
        config: Config,
        hooks: AdminHooks | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.schema = schema
        self.config = config
        self.hooks = hooks or AdminHooks()
        self.request_timeout_s = request_timeout_s  # how long to wait for a partition's answer
        self.lock = asyncio.Lock()  # held by schema changes, from reading the schema to publishing the new one
        self.kafka = KafkaRegistry()  # dynamic Kafka clusters and subscriptions (restate.admin.kafka_state)
        self.parked: list[ParkedRecord] = []  # Kafka records parked by their subscription (parked_records)
        self._background: set[asyncio.Task[Any]] = set()

    def spawn(self, request: Coroutine[Any, Any, object], what: str) -> None:
        """Runs a fire-and-forget partition request (bounded by the request timeout), logging failures."""

        async def run() -> None:
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    await request
            except Exception as exc:
                log.warning("%s failed: %r", what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Asgi, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self._handle(scope, receive)
        except Exception:  # never let a bug take the connection down without an answer
            log.exception("admin request %s %s failed", scope.get("method"), scope.get("path"))
            response = json_response(500, {"message": "Internal server error", "restate_code": None})
        await self._send(send, response, head_only=scope.get("method") == "HEAD")

    async def _lifespan(self, receive: Asgi, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _send(send: Send, response: Response, head_only: bool) -> None:
        headers = [(k.encode(), v.encode()) for k, v in response.headers]
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode()))
            headers.append((b"vary", b"accept-encoding"))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else response.body})

    async def _handle(self, scope: dict[str, Any], receive: Asgi) -> Response:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        segments = _split(raw_path.decode("latin-1").split("?")[0])
        api_version: int | None = None
        if segments and segments[0] in ("v1", "v2", "v3", "v4"):
            api_version = int(segments[0][1])
            segments = segments[1:]
            if api_version == 1:
                return Response(400, _V1_TEXT.encode(), "text/plain; charset=utf-8")
        elif (segments == [""] or segments[0] == "ui") and scope["method"] in ("GET", "HEAD"):
            if self.config.admin_disable_web_ui:
                return Response(404)
            return Response(308, headers=[("location", "/ui/")]) if segments == [""] else ui.serve(segments[1:])
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        found = self._route(segments, method)
        if isinstance(found, Response):
            return found
        handler, params = found
        try:
            body = await _read_body(scope, receive)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            return await handler(self, Request(method, params, query, headers, body, api_version))
        except (AdminError, PlainError) as exc:
            return error_response(exc)

    @staticmethod
    def _route(segments: list[str], method: str) -> tuple[Handler, dict[str, str]] | Response:
        for pattern, methods in ROUTES:
            params = _route_match(pattern, segments)
            if params is None:
                continue
            handler = methods.get(method)
            if handler is None:
                # in the route's order (axum lists the methods as they were added), HEAD right after GET
                allowed = [x for m in methods for x in ((m, "HEAD") if m == "GET" else (m,))]
                return Response(405, headers=[("allow", ",".join(allowed))])
            return handler, params
        return Response(404)

    async def commit(self, schema: Schema) -> None:
        """Store, then make visible, then publish (waiting for acknowledgements) a new schema."""
        await self.hooks.persist(schema)
        self.schema = schema
        await self.hooks.publish(schema)

    # --- handlers ---------------------------------------------------------------------------------

    async def health(self, req: Request) -> Response:
        return Response(200)

    def ingress_endpoint(self) -> str:
        """Where clients reach the ingress (a wildcard bind address is shown as 127.0.0.1)."""
        host, port = self.config.host_port("ingress")
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{port}/"

    async def version(self, req: Request) -> Response:
        return json_response(200, {
            "version": SERVER_VERSION,
            "min_admin_api_version": MIN_API_VERSION,
            "max_admin_api_version": MAX_API_VERSION,
            "ingress_endpoint": self.ingress_endpoint(),
            "features": dict.fromkeys(FEATURES, False),
        })  # fmt: skip

    async def cluster_health(self, req: Request) -> Response:
        return json_response(200, {"cluster_name": "localcluster", "metadata_cluster_health": {"members": [1]}})

    async def list_deployments(self, req: Request) -> Response:
        entries = [views.deployment_summary(d) for d in self.schema.deployments.values()]
        return json_response(200, {"deployments": entries})

    async def register_deployment(self, req: Request) -> Response:
        require_json(req)
        parsed = registry.parse_register_body(req.body)
        if isinstance(parsed, registry.LambdaRequest):
            raise discovery_failed(
                "META0003", f"error when calling '{parsed.arn}': Lambda deployments are not supported by this server"
            )
        overwrite, allow_breaking = registry.resolve_flags(parsed, req.api_version)
        existing = None if overwrite else registry.find_existing(self.schema, parsed.uri)
        if existing is not None:
            result = registry.Registration("unchanged", existing.id, self.schema)
        else:
            result = await self._add(parsed, overwrite, allow_breaking)
        status = registry.status_for(result.kind, result.deployment_id, req.api_version)
        body = views.register_response(result.schema, result.deployment_id, self.config)
        return json_response(status, body, [("location", f"deployments/{result.deployment_id}")])

    async def _add(self, parsed: registry.RegisterRequest, overwrite: bool, breaking: bool) -> registry.Registration:
        discovered = await self.hooks.discover(str(parsed.uri), dict(parsed.additional_headers), parsed.use_http_11)
        async with self.lock:
            result = registry.add_deployment(
                self.schema, parsed, discovered, overwrite=overwrite, allow_breaking=breaking,
                now_ms=self.hooks.now_ms(), new_id=self.hooks.new_id(),
            )  # fmt: skip
            if result.changed and not parsed.dry_run:
                await self.commit(result.schema)
        return result

    def _deployment_id(self, req: Request) -> str:
        value = req.params["deployment"]
        try:
            return check_deployment_id(value)
        except IdError as exc:
            raise PlainError(400, f"Invalid URL: Cannot parse `deployment` with value `{value}`: {exc}") from exc

    async def get_deployment(self, req: Request) -> Response:
        dep_id = self._deployment_id(req)
        dep = self.schema.deployments.get(dep_id)
        if dep is None:
            raise not_found(f"The requested deployment '{dep_id}' does not exist")
        return json_response(200, views.deployment_detail(self.schema, dep, self.config))

    async def delete_deployment(self, req: Request) -> Response:
        dep_id = self._deployment_id(req)
        if bool_query(req, "force") is not True:
            return Response(501)  # graceful removal is not implemented by Restate either
        async with self.lock:
            await self.commit(registry.delete_deployment(self.schema, dep_id))
        return Response(202)

    async def update_deployment(self, req: Request) -> Response:
        """`PATCH /deployments/{id}`: new address, headers or HTTP version, re-discovered (deployment_update)."""
        dep_id = self._deployment_id(req)
        require_json(req)
        update = deployment_update.parse_update_body(req.body)
        existing = self.schema.deployments.get(dep_id)
        if existing is None:
            raise not_found(f"The requested deployment '{dep_id}' does not exist")
        if update.changes_nothing:
            return json_response(200, views.deployment_detail(self.schema, existing, self.config))
        where = deployment_update.discovery_for(existing, update)
        discovered = await self.hooks.discover(where.uri, where.additional_headers, where.use_http_11)
        async with self.lock:
            schema = deployment_update.update_deployment(self.schema, dep_id, where, discovered, update.overwrite)
            if not update.dry_run:
                await self.commit(schema)
        return json_response(200, views.deployment_detail(schema, schema.deployments[dep_id], self.config))

    async def put_deployment(self, req: Request) -> Response:
        """`PUT /deployments/{id}`: the update of admin API v1/v2; later ones refuse it once the body is read."""
        if req.api_version in (1, 2):
            return await self.update_deployment(req)
        self._deployment_id(req)
        require_json(req)
        deployment_update.parse_update_body(req.body)
        raise AdminError(405, "PUT deployment is deprecated, use PATCH instead")

    def _service(self, name: str) -> ServiceSchema:
        svc = self.schema.services.get(name)
        if svc is None:
            raise not_found(f"The requested service '{name}' does not exist")
        return svc

    async def list_services(self, req: Request) -> Response:
        found = [views.service_view(self.schema, s, self.config) for s in self.schema.services.values()]
        return json_response(200, {"services": found})

    async def get_service(self, req: Request) -> Response:
        svc = self._service(req.params["service"])
        return json_response(200, views.service_view(self.schema, svc, self.config))

    async def get_service_openapi(self, req: Request) -> Response:
        svc = self._service(req.params["service"])
        return Response(200, openapi_json(service_openapi(svc, self.ingress_endpoint())), "application/json")

    async def list_handlers(self, req: Request) -> Response:
        svc = self._service(req.params["service"])
        kind = views.protocol_type_of(self.schema, svc)
        return json_response(200, {"handlers": [views.handler_metadata(h, kind) for h in svc.handlers.values()]})

    async def get_handler(self, req: Request) -> Response:
        svc = self._service(req.params["service"])
        name = req.params["handler"]
        handler = svc.handlers.get(name)
        if handler is None:
            raise not_found(f"The requested handler '{name}' on service '{svc.name}' does not exist")
        return json_response(200, views.handler_metadata(handler, views.protocol_type_of(self.schema, svc)))


async def metrics_endpoint(app: AdminApp, req: Request) -> Response:
    """`GET /metrics`: the Prometheus text format of every process of this server."""
    body = await asyncio.to_thread(metrics.exposition, metrics.registry())
    return Response(200, body, metrics.CONTENT_TYPE)


async def admin_openapi(app: AdminApp, req: Request) -> Response:
    """`GET /openapi`: the admin API's OpenAPI document (the operations this server serves)."""
    routes = tuple(
        (tuple(pattern), tuple(m for m, handler in methods.items() if handler not in NOT_SUPPORTED))
        for pattern, methods in ROUTES
    )
    return Response(200, admin_openapi_json(routes), "application/json")


async def query(app: AdminApp, req: Request) -> Response:
    """`POST /query` (SQL introspection). DataFusion is imported on the first query only."""
    from restate.admin.query.route import post_query

    return await post_query(app, req)


async def _read_body(scope: dict[str, Any], receive: Asgi) -> bytes:
    """The whole request body, refused with 413 beyond MAX_BODY."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            raise PlainError(413, "Failed to buffer the request body: length limit exceeded")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PlainError(413, "Failed to buffer the request body: length limit exceeded")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


# Routed (to answer as the real server would), but refused: left out of `GET /openapi`.
NOT_SUPPORTED: frozenset[Handler] = frozenset({invocations.restart_as_new})

ROUTES: list[tuple[list[str], dict[str, Handler]]] = [
    (["health"], {"GET": AdminApp.health}),
    (["version"], {"GET": AdminApp.version}),
    (["openapi"], {"GET": admin_openapi}),
    (["cluster-health"], {"GET": AdminApp.cluster_health}),
    (["metrics"], {"GET": metrics_endpoint}),
    (["deployments"], {"GET": AdminApp.list_deployments, "POST": AdminApp.register_deployment}),
    (["deployments", "{deployment}"], {
        "GET": AdminApp.get_deployment, "DELETE": AdminApp.delete_deployment, "PUT": AdminApp.put_deployment,
        "PATCH": AdminApp.update_deployment}),
    (["services"], {"GET": AdminApp.list_services}),
    (["services", "{service}"], {"GET": AdminApp.get_service, "PATCH": services.patch_service}),
    (["services", "{service}", "state"], {"POST": services.replace_state}),
    (["services", "{service}", "openapi"], {"GET": AdminApp.get_service_openapi}),
    (["services", "{service}", "handlers"], {"GET": AdminApp.list_handlers}),
    (["services", "{service}", "handlers", "{handler}"], {"GET": AdminApp.get_handler}),
    (["invocations", "{invocation}"], {"DELETE": invocations.delete}),
    (["invocations", "{invocation}", "cancel"], {"PATCH": invocations.cancel}),
    (["invocations", "{invocation}", "kill"], {"PATCH": invocations.kill}),
    (["invocations", "{invocation}", "pause"], {"PATCH": invocations.pause}),
    (["invocations", "{invocation}", "resume"], {"PATCH": invocations.resume}),
    (["invocations", "{invocation}", "purge"], {"PATCH": invocations.purge}),
    (["invocations", "{invocation}", "purge-journal"], {"PATCH": invocations.purge_journal}),
    (["invocations", "{invocation}", "restart-as-new"], {"PATCH": invocations.restart_as_new}),
    (["query"], {"POST": query}),
    (["subscriptions"], {"POST": subscriptions.create, "GET": subscriptions.list_all}),
    (["subscriptions", "{subscription}"], {"GET": subscriptions.get, "DELETE": subscriptions.delete}),
    (["subscriptions", "{subscription}", "parked"], {"GET": parked_records.list_parked}),
    (["subscriptions", "{subscription}", "parked", "{partition}", "{offset}"], {"DELETE": parked_records.drop}),
    (["subscriptions", "{subscription}", "parked", "{partition}", "{offset}", "replay"], {
        "POST": parked_records.replay}),
    (["kafka-clusters"], {"GET": kafka_clusters.list_all, "POST": kafka_clusters.create}),
    (["kafka-clusters", "{cluster}"], {
        "GET": kafka_clusters.get, "PATCH": kafka_clusters.patch, "DELETE": kafka_clusters.delete}),
]  # fmt: skip
