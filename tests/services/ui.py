"""Official-SDK services for the web UI's browser tests (tests/browser): every kind of invocation the views show.

This module runs ONLY inside `.venv-official`, where `import restate` is the official `restate-sdk` (1.3.0),
under hypercorn (see `tests.support.services.ServiceProcess`).

- `Shop` (workflow) `run(order)`: calls `Hop/step` with depth 2, which calls itself with depth 1, then 0: a call
  chain of depth 3 below the workflow. The deepest step waits on an awakeable (its id is stored as state of the
  `Board` object under the order's key), so the whole chain stays running until the test resolves it.
- `Steps/run`: two `ctx.run` steps and a sleep of 10 ms, then returns: a finished invocation with a journal.
- `Flaky/always`: fails every attempt with a retryable error (retries every 1 s): failed-and-retrying.
- `Drift/run`: its first attempt records `ctx.run("first")` then fails; the retry runs `ctx.run("second")` at the
  same place: a journal mismatch (non-determinism, code 570) on every retry after the first.
- `Board` (virtual object): `set` / `get` state entries.
- `Waiter/wait`: waits on an awakeable forever (a running invocation that can be cancelled).
- `Noop/ping`: returns its input (many cheap invocations, for the load-time measurement).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from restate import InvocationRetryPolicy

_SLOW_RETRIES = InvocationRetryPolicy(
    initial_interval=timedelta(seconds=1), exponentiation_factor=2.0, max_interval=timedelta(seconds=8)
)

board = restate.VirtualObject("Board")


@board.handler(name="set")
async def set_entries(ctx: restate.ObjectContext, entries: dict[str, Any]) -> list[str]:
    for name, value in entries.items():
        ctx.set(name, value)
    return sorted(await ctx.state_keys())


@board.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext, name: str) -> Any:
    return await ctx.get(name)


hop = restate.Service("Hop")


@hop.handler()
async def step(ctx: restate.Context, req: dict[str, Any]) -> str:
    depth = int(req["depth"])
    if depth > 0:
        inner = await ctx.service_call(step, {"order": req["order"], "depth": depth - 1})
        return f"hop{depth}({inner})"
    awk_id, fut = ctx.awakeable(type_hint=str)
    ctx.object_send(set_entries, key=req["order"], arg={"awakeable": awk_id})
    return f"leaf({await fut})"


shop = restate.Workflow("Shop")


@shop.main()
async def run(ctx: restate.WorkflowContext, order: str) -> str:
    ctx.set("status", "shipping")
    ctx.service_send(steps_run, f"{order}-receipt")
    shipped = await ctx.service_call(step, {"order": ctx.key(), "depth": 2})
    ctx.set("status", "done")
    return f"{order}: {shipped}"


steps = restate.Service("Steps")


@steps.handler(name="run")
async def steps_run(ctx: restate.Context, label: str) -> dict[str, Any]:
    first = await ctx.run_typed("prepare", lambda: f"prepared {label}")
    await ctx.sleep(timedelta(milliseconds=10))
    second = await ctx.run_typed("commit", lambda: {"label": label, "items": [1, 2, 3]})
    return {"first": first, "second": second}


flaky = restate.Service("Flaky", invocation_retry_policy=_SLOW_RETRIES)


@flaky.handler()
async def always(ctx: restate.Context, label: str) -> str:
    await ctx.run_typed("prepare", lambda: f"ready {label}")
    raise Exception(f"flaky failure for {label}")


drift = restate.Service("Drift", invocation_retry_policy=_SLOW_RETRIES)
_drift_attempts: dict[str, int] = {}


@drift.handler(name="run")
async def drift_run(ctx: restate.Context, label: str) -> str:
    # Deliberately non-deterministic: the step's name depends on this process's memory, not on the journal.
    attempt = _drift_attempts[label] = _drift_attempts.get(label, 0) + 1
    await ctx.run_typed("first" if attempt == 1 else "second", lambda: attempt)
    raise Exception(f"drift attempt {attempt}")


waiter = restate.Service("Waiter")


@waiter.handler()
async def wait(ctx: restate.Context, label: str) -> str:
    _, fut = ctx.awakeable(type_hint=str)
    return await fut


noop = restate.Service("Noop")


@noop.handler()
async def ping(ctx: restate.Context, n: int) -> int:
    return n


app = restate.app(services=[board, hop, shop, steps, flaky, drift, waiter, noop])
