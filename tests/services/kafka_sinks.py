"""Official-SDK sinks of the Kafka subscription tests (runs in `.venv-official` under hypercorn).

Every handler run appends one JSON line to SIDE_EFFECT_FILE (not durable: one line per attempt):
{"handler": ..., "key": ..., "body": <utf-8 or base64>, "headers": {...}, "invocation_id": ...}.

    KSvc/raw     a service: takes any bytes
    KObj/add     a virtual object: appends the body to its `events` list (state), returns the count
    KObj/get     shared: the `events` list
    KFlaky/add   KObj/add, but a body `fail` fails every attempt; KFlaky/get
"""

from __future__ import annotations

import base64
import json
import os
import threading

from restate.serde import BytesSerde

import restate
from restate import Context, ObjectContext, ObjectSharedContext, Service, VirtualObject

_LOCK = threading.Lock()


def _record(handler: str, ctx: Context | ObjectContext, data: bytes, key: str | None = None) -> None:
    try:
        body = data.decode("utf-8")
    except UnicodeDecodeError:
        body = "b64:" + base64.b64encode(data).decode()
    line = {"handler": handler, "key": key, "body": body, "headers": dict(ctx.request().headers),
            "invocation_id": ctx.request().id}  # fmt: skip
    with _LOCK, open(os.environ.get("SIDE_EFFECT_FILE", "/dev/null"), "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


ksvc = Service("KSvc")


@ksvc.handler(input_serde=BytesSerde(), accept="*/*")
async def raw(ctx: Context, data: bytes) -> str:
    _record("KSvc/raw", ctx, data)
    return "ok"


kobj = VirtualObject("KObj")


@kobj.handler(input_serde=BytesSerde(), accept="*/*")
async def add(ctx: ObjectContext, data: bytes) -> int:
    events: list[str] = await ctx.get("events") or []
    events.append(data.decode("utf-8", "replace"))
    ctx.set("events", events)
    _record("KObj/add", ctx, data, ctx.key())
    return len(events)


@kobj.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> list[str]:
    return await ctx.get("events") or []


kflaky = VirtualObject("KFlaky")


@kflaky.handler(name="add", input_serde=BytesSerde(), accept="*/*")
async def flaky_add(ctx: ObjectContext, data: bytes) -> int:
    """Like KObj/add, but the body `fail` fails every attempt (retried for ever by the server)."""
    _record("KFlaky/add", ctx, data, ctx.key())
    if data == b"fail":
        raise ValueError("this record always fails")
    events: list[str] = await ctx.get("events") or []
    events.append(data.decode())
    ctx.set("events", events)
    return len(events)


@kflaky.handler(name="get", kind="shared")
async def flaky_get(ctx: ObjectSharedContext) -> list[str]:
    return await ctx.get("events") or []


app = restate.app([ksvc, kobj, kflaky])
