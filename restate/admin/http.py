"""The admin API's request/response values and the helpers every route family shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from restate.admin.errors import AdminError, PlainError

if TYPE_CHECKING:
    from restate.admin.app import AdminApp


@dataclass
class Request:
    method: str
    params: dict[str, str]
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    api_version: int | None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[["AdminApp", Request], Awaitable[Response]]


def json_response(status: int, data: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, msgspec.json.encode(data), "application/json", headers or [])


def error_response(exc: AdminError | PlainError) -> Response:
    if isinstance(exc, AdminError):
        return Response(exc.status, exc.body(), "application/json")
    return Response(exc.status, exc.text.encode(), "text/plain; charset=utf-8")


def is_json(content_type: str | None) -> bool:
    mime = (content_type or "").split(";")[0].strip().lower()
    main, _, sub = mime.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def require_json(req: Request) -> None:
    if not is_json(req.headers.get("content-type")):
        raise PlainError(415, "Expected request with `Content-Type: application/json`")


def query_values(req: Request, name: str) -> list[str]:
    return [value for key, value in req.query if key == name]


def bool_query(req: Request, name: str) -> bool | None:
    """A `true`/`false` query parameter (the last one wins); 400 text as axum's Query rejects others."""
    value: bool | None = None
    for key, raw in req.query:
        if key == name:
            if raw not in ("true", "false"):
                reason = f"{name}: provided string was not `true` or `false`"
                raise PlainError(400, f"Failed to deserialize query string: {reason}")
            value = raw == "true"
    return value
