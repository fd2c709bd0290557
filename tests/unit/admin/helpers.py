"""Test helpers for the admin API: recorded manifests and transcripts, a fake backend, an in-process ASGI driver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from restate.admin.app import AdminApp, AdminHooks
from restate.admin.errors import AdminError
from restate.admin.manifest import Discovered, HttpVersion, parse_manifest
from restate.config import Config
from restate.schema import Schema
from restate.wire import CommandResult, Done, InvocationOp

DATA = Path(__file__).parent / "data"
V4 = "application/vnd.restate.endpointmanifest.v4+json"
SDK = "restate-sdk-python/1.3.0"
DP_A = "dp_12PgsFJ82wRXepxIaMzIdLr"  # ids as in the transcripts
DP_B = "dp_14bz75FHIkQ6dxzKQnyIALL"
DP_C = "dp_10nkKoVeh1nvTe4KYSahBS1"
T0 = 1_795_273_512_996  # 2026-11-21T15:05:12.996Z
CONFIG = Config(ingress_bind_address="127.0.0.1:28080", admin_bind_address="127.0.0.1:29070")


def manifest_bytes(name: str) -> bytes:
    return (DATA / f"{name}_manifest.json").read_bytes()


def manifest_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(manifest_bytes(name))
    return data


def transcript(name: str) -> Any:
    return json.loads((DATA / f"transcript_{name}.json").read_text())


def discovered(name: str, http_version: HttpVersion = "HTTP/2.0") -> Discovered:
    return parse_manifest(V4, manifest_bytes(name), http_version, SDK)


def discovered_from(manifest: dict[str, Any], http_version: HttpVersion = "HTTP/2.0") -> Discovered:
    return parse_manifest(V4, json.dumps(manifest).encode(), http_version, SDK)


def canonical(value: Any) -> bytes:
    """JSON with handler/service/deployment lists sorted by name/id (Restate's order comes from hash maps)."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            items = [walk(x) for x in v]
            if items and all(isinstance(x, dict) and ("name" in x or "id" in x) for x in items):
                items.sort(key=lambda x: str(x.get("id", x.get("name"))))
            return items
        return v

    return msgspec.json.encode(walk(value))


@dataclass
class FakePartitions:
    """Answers admin's partition requests with canned results; records them. `hang` never answers."""

    status: int = 200
    message: str | None = None
    fail_with: Exception | None = None
    hang: bool = False
    managed: list[tuple[bytes, InvocationOp]] = field(default_factory=list)
    states: list[tuple[str, str, list[tuple[bytes, bytes]], str | None]] = field(default_factory=list)

    async def _answer(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.hang:
            await asyncio.Event().wait()

    async def manage(self, invocation_id: bytes, op: InvocationOp) -> CommandResult:
        self.managed.append((invocation_id, op))
        await self._answer()
        return CommandResult(1, self.status, self.message)

    async def replace_state(
        self, service: str, key: str, new_state: list[tuple[bytes, bytes]], version: str | None = None
    ) -> Done:
        self.states.append((service, key, new_state, version))
        await self._answer()
        return Done(1)


@dataclass
class FakeBackend:
    """Discovery answers by URI (a Discovered, or an AdminError to raise); records persist/publish calls."""

    endpoints: dict[str, Discovered | AdminError] = field(default_factory=dict)
    discover_calls: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    persisted: list[Schema] = field(default_factory=list)
    published: list[Schema] = field(default_factory=list)
    ids: list[str] = field(default_factory=lambda: [DP_A, DP_B, DP_C])
    clock: list[int] = field(default_factory=lambda: [T0])
    partitions: FakePartitions = field(default_factory=FakePartitions)

    async def discover(self, uri: str, headers: dict[str, str], use_http_11: bool) -> Discovered:
        self.discover_calls.append((uri, headers, use_http_11))
        found = self.endpoints.get(uri)
        if found is None:
            raise AdminError(500, f"[META0003] [META0003] error when calling '{uri}': refused", "META0003")
        if isinstance(found, AdminError):
            raise found
        return found

    async def persist(self, schema: Schema) -> None:
        self.persisted.append(schema)

    async def publish(self, schema: Schema) -> None:
        self.published.append(schema)

    def next_id(self) -> str:
        return self.ids.pop(0)

    def now(self) -> int:
        return self.clock[0]

    def app(self, schema: Schema | None = None, request_timeout_s: float = 30.0) -> AdminApp:
        hooks = AdminHooks(self.discover, self.persist, self.publish, self.now, self.next_id, self.partitions)
        return AdminApp(schema or Schema(), CONFIG, hooks, request_timeout_s)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: Callable[..., Awaitable[None]],
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> Reply:
    """Drives one ASGI request through `app` (no sockets); dict bodies are sent as JSON."""
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        hdrs.setdefault("content-type", "application/json")
    pending = list(chunks) if chunks is not None else [body or b""]
    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    reply_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    data = b"".join(m.get("body", b"") for m in sent[1:])
    return Reply(start["status"], reply_headers, data)
