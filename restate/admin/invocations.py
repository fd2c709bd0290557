"""Invocation management: `PATCH /invocations/{id}/<op>` and the deprecated `DELETE /invocations/{id}`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from restate.admin.errors import AdminError, PlainError, invalid_field
from restate.admin.http import Handler, Request, Response, query_values
from restate.ids import IdError, InvocationId
from restate.wire import CommandResult, Done, InvocationOp

if TYPE_CHECKING:
    from restate.admin.app import AdminApp


class Partitions(Protocol):
    """What admin asks the partitions (`restate.ipc.partition_rpc.PartitionRpc`, or a fake in tests)."""

    async def manage(self, invocation_id: bytes, op: InvocationOp) -> CommandResult: ...

    async def replace_state(
        self, service: str, key: str, new_state: list[tuple[bytes, bytes]], version: str | None = None
    ) -> Done: ...


class Unconnected:
    """The default: no partitions to talk to (every request fails as a routing error)."""

    async def manage(self, invocation_id: bytes, op: InvocationOp) -> CommandResult:
        raise ConnectionError("the partitions are not connected")

    async def replace_state(
        self, service: str, key: str, new_state: list[tuple[bytes, bytes]], version: str | None = None
    ) -> Done:
        raise ConnectionError("the partitions are not connected")


_DELETE_MODES: dict[str, InvocationOp] = {
    "Cancel": "cancel", "cancel": "cancel", "Kill": "kill", "kill": "kill", "Purge": "purge", "purge": "purge",
}  # fmt: skip
_MODE_ERROR = (
    "Failed to deserialize query string: mode: unknown variant `{}`, expected one of "
    "`Cancel`, `cancel`, `Kill`, `kill`, `Purge`, `purge`"
)


def parse_id(req: Request) -> InvocationId:
    try:
        return InvocationId.parse(req.params["invocation"])
    except IdError as exc:
        raise invalid_field("invocation_id", str(exc)) from None


def default_message(op: InvocationOp, status: int, invocation_id: str) -> str:
    """The real server's error text, for a partition answer that carries none."""
    if status == 404:
        return f"The requested invocation '{invocation_id}' does not exist"
    if status == 425:
        return f"The invocation '{invocation_id}' is either inboxed or scheduled, cannot be resumed."
    return {
        "cancel": f"The invocation '{invocation_id}' was already completed.",
        "kill": f"The invocation '{invocation_id}' was already completed.",
        "purge": f"The invocation '{invocation_id}' is not yet completed.",
        "purge_journal": f"The invocation '{invocation_id}' is not yet completed.",
        "pause": f"The invocation '{invocation_id}' is not running, cannot be paused.",
        "resume": f"The invocation '{invocation_id}' is completed, cannot be resumed.",
    }[op]


def routing_error(exc: BaseException) -> AdminError:
    reason = str(exc) or "timed out waiting for the partition"
    return AdminError(503, f"Error when routing the request internally. Reason: {reason}")


async def _manage(app: AdminApp, req: Request, op: InvocationOp) -> Response:
    invocation_id = parse_id(req)
    if op == "resume" and any(query_values(req, "deployment")):
        raise AdminError(
            400, "The query parameter 'deployment' is invalid. Reason: choosing the deployment is not supported"
        )
    try:
        async with asyncio.timeout(app.request_timeout_s):
            result = await app.hooks.partitions.manage(invocation_id.to_bytes(), op)
    except (ConnectionError, TimeoutError) as exc:
        raise routing_error(exc) from exc
    if 200 <= result.status < 300:
        return Response(result.status)
    raise AdminError(result.status, result.message or default_message(op, result.status, str(invocation_id)))


def _op(op: InvocationOp) -> Handler:
    async def handler(app: AdminApp, req: Request) -> Response:
        return await _manage(app, req, op)

    handler.__name__ = f"{op}_invocation"
    return handler


cancel, kill, pause, resume = _op("cancel"), _op("kill"), _op("pause"), _op("resume")
purge, purge_journal = _op("purge"), _op("purge_journal")


async def restart_as_new(app: AdminApp, req: Request) -> Response:
    parse_id(req)
    raise AdminError(501, "Restarting an invocation as new is not supported by this server")


async def delete(app: AdminApp, req: Request) -> Response:
    """Deprecated: cancel (default), kill or purge without waiting for the outcome: 202 once sent."""
    modes = query_values(req, "mode")
    mode = modes[-1] if modes else "cancel"
    op = _DELETE_MODES.get(mode)
    if op is None:
        raise PlainError(400, _MODE_ERROR.format(mode))
    invocation_id = parse_id(req)
    app.spawn(app.hooks.partitions.manage(invocation_id.to_bytes(), op), f"{op} {invocation_id}")
    return Response(202)
