"""Official-SDK services for the foundation tests.

This module runs ONLY inside `.venv-official`, where `import restate` is the official
`restate-sdk` (1.3.0), under hypercorn (see `tests.support.services.ServiceProcess`).

Environment:
  SIDE_EFFECT_FILE  file that `Steps` appends "<invocation_id> step<k>" lines to (default /dev/null)
  GATE_FILE         file whose existence releases step 2 of `Steps.slow_three`
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import restate
from restate import TerminalError

GATE_TIMEOUT_S = 60.0
GATE_POLL_S = 0.02

# --- Greeter -------------------------------------------------------------------------------

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


# --- Steps ---------------------------------------------------------------------------------

steps = restate.Service("Steps")


def _append_side_effect(invocation_id: str, k: int) -> str:
    """Append one line for step k; returns the step name (journaled by ctx.run)."""
    path = os.environ.get("SIDE_EFFECT_FILE", "/dev/null")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{invocation_id} step{k}\n")
    return f"step{k}"


def _append_marker(invocation_id: str, text: str) -> None:
    path = os.environ.get("SIDE_EFFECT_FILE", "/dev/null")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{invocation_id} {text}\n")


def _step(invocation_id: str, k: int) -> Callable[[], str]:
    return lambda: _append_side_effect(invocation_id, k)


def _gated_step(invocation_id: str, k: int) -> Callable[[], Awaitable[str]]:
    async def action() -> str:
        gate = os.environ.get("GATE_FILE", "")
        _append_marker(invocation_id, f"gate{k}-waiting")
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not (gate and os.path.exists(gate)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate file {gate!r} did not appear within {GATE_TIMEOUT_S}s")
            await asyncio.sleep(GATE_POLL_S)
        return _append_side_effect(invocation_id, k)

    return action


@steps.handler()
async def three(ctx: restate.Context, n: int) -> int:
    inv = ctx.request().id
    for k in (1, 2, 3):
        await ctx.run_typed(f"step{k}", _step(inv, k))
    return n + 3


@steps.handler()
async def slow_three(ctx: restate.Context, n: int) -> int:
    """Like `three`, but step 2 blocks until GATE_FILE exists (for crash tests)."""
    inv = ctx.request().id
    await ctx.run_typed("step1", _step(inv, 1))
    await ctx.run_typed("step2", _gated_step(inv, 2))
    await ctx.run_typed("step3", _step(inv, 3))
    return n + 3


# --- Sleeper -------------------------------------------------------------------------------

sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def sleep(ctx: restate.Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}ms"


@sleeper.handler()
async def sleep_and_record(ctx: restate.Context, ms: int) -> str:
    """Sleeps durably, then records "<invocation id> woke" once through ctx.run (for crash tests)."""
    await ctx.sleep(timedelta(milliseconds=ms))
    inv = ctx.request().id
    await ctx.run_typed("record", lambda: _append_marker(inv, "woke") or "recorded")
    return "recorded"


# --- Counter (virtual object) --------------------------------------------------------------

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    count += delta
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("count", type_hint=int)) or 0


# --- Caller --------------------------------------------------------------------------------

caller = restate.Service("Caller")


@caller.handler()
async def call_and_send(ctx: restate.Context, name: str) -> str:
    greeting = await ctx.service_call(greet, arg=name)
    ctx.object_send(add, key=name, arg=1)
    return greeting


# --- Flaky ---------------------------------------------------------------------------------

flaky = restate.Service("Flaky")
_attempts: dict[str, int] = {}


@flaky.handler()
async def twice(ctx: restate.Context, key: str) -> str:
    """Fails (retryably) on the first two attempts for `key`, counted in process memory."""
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] <= 2:
        raise Exception(f"flaky failure {_attempts[key]} for {key}")
    return "ok after 2 failures"


# --- Failing -------------------------------------------------------------------------------

failing = restate.Service("Failing")


@failing.handler()
async def terminal(ctx: restate.Context) -> None:
    raise TerminalError("nope", status_code=418)


app = restate.app(services=[greeter, steps, sleeper, counter, caller, flaky, failing])
