"""Service changes: `PATCH /services/{name}` (ModifyServiceRequest) and `POST /services/{name}/state`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import msgspec

from restate.admin import jsonbody, views
from restate.admin.errors import AdminError, not_found
from restate.admin.http import Request, Response, json_response, require_json
from restate.admin.jsonbody import Field, read_struct
from restate.schema import Schema, ServiceSchema

if TYPE_CHECKING:
    from restate.admin.app import AdminApp

_DURATIONS = ("idempotency_retention", "workflow_completion_retention", "journal_retention", "inactivity_timeout",
              "abort_timeout")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModifyService:
    """The fields of a ModifyServiceRequest that were given (None: leave unchanged); durations in ms."""

    public: bool | None = None
    idempotency_retention: int | None = None
    workflow_completion_retention: int | None = None
    journal_retention: int | None = None
    inactivity_timeout: int | None = None
    abort_timeout: int | None = None

    @property
    def empty(self) -> bool:
        return self == ModifyService()


_MODIFY_SERVICE = [Field("public", jsonbody.boolean), *(Field(name, jsonbody.duration_ms) for name in _DURATIONS)]


def parse_modify_service(body: bytes) -> ModifyService:
    values = read_struct(body, "ModifyServiceRequest", _MODIFY_SERVICE)
    durations = {name: cast(int | None, values[name]) for name in _DURATIONS}
    return ModifyService(cast(bool | None, values["public"]), **durations)


def modify_service(svc: ServiceSchema, change: ModifyService) -> ServiceSchema:
    """The service with the changes applied (its revision stays), as Restate's schema updater does."""
    if change.workflow_completion_retention is not None and svc.ty != "Workflow":
        raise AdminError(400, f"modifying retention time for service type {svc.ty} is unsupported")
    updates: dict[str, object] = {}
    if change.public is not None:
        updates["public"] = change.public
        updates["handlers"] = {
            name: msgspec.structs.replace(
                h, public=change.public if h.ingress_private is None else not h.ingress_private
            )
            for name, h in svc.handlers.items()
        }
    for name in _DURATIONS:
        value = getattr(change, name)
        if value is not None:
            updates[f"{name}_ms"] = value
    return msgspec.structs.replace(svc, **updates)


def with_service(schema: Schema, svc: ServiceSchema) -> Schema:
    """The next schema version, with `svc` replacing the active revision of its name."""
    services = {**schema.services, svc.name: svc}
    return msgspec.structs.replace(schema, version=schema.version + 1, services=services)


async def patch_service(app: AdminApp, req: Request) -> Response:
    require_json(req)
    change = parse_modify_service(req.body)
    name = req.params["service"]
    if change.empty:  # nothing to change: answered like a GET
        return await app.get_service(req)
    async with app.lock:
        svc = app.schema.services.get(name)
        if svc is None:
            raise AdminError(404, f"not found in the schema registry: service with name '{name}'")
        updated = modify_service(svc, change)
        await app.commit(with_service(app.schema, updated))
    return json_response(200, views.service_view(app.schema, updated, app.config))


@dataclass(frozen=True, slots=True)
class ModifyState:
    object_key: str
    new_state: dict[str, bytes]
    version: str | None = None
    scope: str | None = None


# Declaration order (a JSON array fills them in this order); `version` may only be left out of an object.
_MODIFY_STATE = [
    Field("version", jsonbody.string, default=False),
    Field("object_key", jsonbody.string, optional=False, default=False),
    Field("scope", jsonbody.string),
    Field("new_state", jsonbody.byte_map, optional=False, default=False, map_typed=True),
]


def parse_modify_state(body: bytes) -> ModifyState:
    values = read_struct(body, "ModifyServiceStateRequest", _MODIFY_STATE)
    return ModifyState(
        object_key=cast(str, values["object_key"]),
        new_state=cast(dict[str, bytes], values["new_state"]),
        version=cast(str | None, values["version"]),
        scope=cast(str | None, values["scope"]),
    )


async def replace_state(app: AdminApp, req: Request) -> Response:
    """Replaces the whole state of one object key; 202 once the partition has it durably (queued)."""
    require_json(req)
    change = parse_modify_state(req.body)
    name = req.params["service"]
    svc = app.schema.services.get(name)
    if svc is not None and svc.ty == "Service":
        raise AdminError(400, "Cannot modify state for service type Service")
    if svc is None and change.new_state:  # clearing the state of a removed service stays possible
        raise not_found(f"The requested service '{name}' does not exist")
    if change.scope is not None:
        raise AdminError(400, "bad scope: scoped state is not supported by this server")
    entries = [(key.encode(), value) for key, value in change.new_state.items()]
    try:
        async with asyncio.timeout(app.request_timeout_s):
            await app.hooks.partitions.replace_state(name, change.object_key, entries, change.version)
    except (ConnectionError, TimeoutError) as exc:
        raise AdminError(500, "Internal server error: Failed sending state patching command to the cluster.") from exc
    return Response(202)
