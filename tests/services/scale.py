"""Official-SDK service for the scale test: a handler that holds its attempt (and its connection) until the
test releases it, a quick one, a slow one and one sleeping durably for an hour (it suspends).

This module runs ONLY inside `.venv-official` under hypercorn (see `tests.support.services.ServiceProcess`),
in one process (workers = 0), so the gate below is shared by every request. Test endpoints (plain HTTP):
  POST /test/epoch          handlers blocked so far belong to an older epoch (their attempt is gone)
  POST /test/release?n=K    releases the K oldest handlers blocked in the current epoch
  POST /test/open           releases every blocked handler; later ones do not block
  GET  /test/stats          {"blocked": handlers blocked in the current epoch, "epoch": ..., "released": ...}
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import restate

_waiters: list[tuple[int, asyncio.Future[None]]] = []
_gate = {"epoch": 0, "open": False, "released": 0}

blocker = restate.Service("Blocker")


@blocker.handler()
async def hold(ctx: restate.Context, n: int) -> int:
    """Blocks (not durably: the attempt stays running) until the test releases it."""
    if not _gate["open"]:
        waiter = asyncio.get_running_loop().create_future()
        entry = (int(_gate["epoch"]), waiter)
        _waiters.append(entry)
        try:
            await waiter
        finally:
            if entry in _waiters:
                _waiters.remove(entry)
    return n


@blocker.handler()
async def quick(ctx: restate.Context, n: int) -> int:
    return n + 1


@blocker.handler()
async def slow(ctx: restate.Context, ms: int) -> int:
    """Answers after `ms` (a slow deployment; not durable: the attempt stays open meanwhile)."""
    await asyncio.sleep(ms / 1000)
    return ms


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def hour(ctx: restate.Context, n: int) -> int:
    """A durable sleep of an hour: the invocation suspends (request/response at once; bidi once the server
    half-closes the stream after its inactivity timeout) and stays pending."""
    await ctx.sleep(timedelta(hours=1))
    return n


restate_app = restate.app(services=[blocker, sleeper])


def _release(limit: int | None) -> None:
    current = [entry for entry in _waiters if entry[0] == _gate["epoch"] and not entry[1].done()]
    for _, waiter in current[:limit]:
        waiter.set_result(None)
        _gate["released"] = int(_gate["released"]) + 1


async def _test_endpoint(scope: dict[str, Any], send: Any) -> None:
    action = scope["path"].removeprefix("/test/")
    if action == "epoch":
        _gate["epoch"] = int(_gate["epoch"]) + 1
    elif action == "release":
        _release(int(parse_qs(scope["query_string"].decode()).get("n", ["1"])[0]))
    elif action == "open":
        _gate["open"] = True
        _release(None)
    blocked = sum(1 for epoch, waiter in _waiters if epoch == _gate["epoch"] and not waiter.done())
    body = json.dumps({"blocked": blocked, **_gate}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith("/test/"):
        await _test_endpoint(scope, send)
    else:
        await restate_app(scope, receive, send)
