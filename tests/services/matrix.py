"""Services of the SDK matrix (tests/sdk_matrix): ONE module, run unchanged by both SDKs.

Under `.venv-official/bin/hypercorn` `import restate` is the official restate-sdk 1.3.0; under
`.venv/bin/hypercorn` it is ours (restate/sdk). Only the official public API is used here, which is
the point: a user service written for the official SDK must run on ours as is. `ts/matrix.ts` has the
same services and handlers on the official TypeScript SDK.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from restate.exceptions import RetryableError
from restate.serde import BytesSerde

import restate
from restate import TerminalError

_attempts: dict[str, int] = {}


def _bump(key: str) -> int:
    _attempts[key] = _attempts.get(key, 0) + 1
    return _attempts[key]


# --- Greeter: plain service ------------------------------------------------------------------

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


@greeter.handler()
async def steps(ctx: restate.Context, n: int) -> int:
    """Three durable steps (the CPU-cost workload)."""
    total = n
    for k in (1, 2, 3):
        total += await ctx.run_typed(f"step{k}", lambda: 1)
    return total


@greeter.handler()
async def parallel(ctx: restate.Context, n: int) -> list[int]:
    """Durable futures awaited concurrently: plain asyncio.gather, then restate.gather."""
    a, b = ctx.run_typed("a", lambda: n + 1), ctx.run_typed("b", lambda: n + 2)
    both = await asyncio.gather(a, b)
    c, d = ctx.run_typed("c", lambda: n + 3), ctx.run_typed("d", lambda: n + 4)
    await restate.gather(c, d)
    return [*both, await c, await d]


@greeter.handler()
async def info(ctx: restate.Context) -> dict[str, str]:
    req = ctx.request()
    return {"id": req.id, "header": req.headers.get("x-matrix", "")}


@greeter.handler()
async def nothing(ctx: restate.Context) -> None:
    return None


@greeter.handler(accept="*/*", content_type="application/octet-stream", input_serde=BytesSerde(),
                 output_serde=BytesSerde())  # fmt: skip
async def echo_bytes(ctx: restate.Context, data: bytes) -> bytes:
    return data[::-1]


# --- Timers ----------------------------------------------------------------------------------

timers = restate.Service("Timers")


@timers.handler()
async def sleep(ctx: restate.Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"slept {ms}"


@timers.handler()
async def combo(ctx: restate.Context) -> str:
    """gather of two timers, then a select between a timer and an awakeable nobody resolves."""
    await restate.gather(ctx.sleep(timedelta(milliseconds=100)), ctx.sleep(timedelta(milliseconds=300)))
    _, never = ctx.awakeable()
    match await restate.select(timer=ctx.sleep(timedelta(milliseconds=100)), awakeable=never):
        case ["timer", _]:
            return "combo:timer"
    return "combo:awakeable"


@timers.handler()
async def deterministic(ctx: restate.Context, ms: int) -> bool:
    """random/uuid are the same after a suspension and replay."""
    value = f"{ctx.uuid()}-{ctx.random().randint(0, 10**9)}"
    recorded = await ctx.run_typed("record", lambda: value)
    await ctx.sleep(timedelta(milliseconds=ms))
    return recorded == value


@timers.handler()
async def now(ctx: restate.Context) -> bool:
    t = await ctx.time()
    return t > 1_600_000_000


# --- Failures and retries --------------------------------------------------------------------

failures = restate.Service("Failures")


@failures.handler()
async def terminal(ctx: restate.Context, code: int) -> str:
    raise TerminalError("nope", status_code=code)


@failures.handler()
async def flaky(ctx: restate.Context, key: str) -> str:
    """Fails (retryably) on the first two attempts for `key`."""
    n = _bump("flaky-" + key)
    if n <= 2:
        raise ValueError(f"transient failure attempt {n}")
    return f"ok after {n}"


@failures.handler()
async def retryable(ctx: restate.Context, key: str) -> str:
    n = _bump("retryable-" + key)
    if n == 1:
        raise RetryableError("try again soon", retry_after=timedelta(milliseconds=50))
    return f"ok after {n}"


@failures.handler()
async def run_retry(ctx: restate.Context, key: str) -> str:
    def step() -> str:
        n = _bump("run-" + key)
        if n <= 2:
            raise ValueError(f"step failed {n}")
        return f"step ok after {n}"

    opts: restate.RunOptions[str] = restate.RunOptions(
        max_attempts=5, initial_retry_interval=timedelta(milliseconds=50)
    )
    return await ctx.run_typed("step", step, opts)


@failures.handler()
async def run_gives_up(ctx: restate.Context, key: str) -> str:
    def step() -> str:
        raise ValueError("run boom")

    try:
        await ctx.run_typed("boom", step, restate.RunOptions(max_attempts=2))
    except TerminalError as e:
        return f"gave up: {e.message}"
    return "unreachable"


@failures.handler()
async def run_terminal(ctx: restate.Context) -> str:
    def step() -> str:
        raise TerminalError("step says no", status_code=422)

    try:
        await ctx.run_typed("no", step)
    except TerminalError as e:
        return f"{e.status_code}:{e.message}"
    return "unreachable"


# --- Calls, sends, awakeables ----------------------------------------------------------------

calls = restate.Service("Calls")


@calls.handler()
async def call_and_send(ctx: restate.Context, name: str) -> str:
    greeting = await ctx.service_call(greet, arg=name)
    ctx.object_send(add, key=name, arg=1)
    ctx.object_send(add, key=name, arg=10, send_delay=timedelta(milliseconds=200))
    return f"called:{greeting}"


@calls.handler()
async def call_terminal(ctx: restate.Context) -> str:
    try:
        await ctx.service_call(terminal, arg=418)
    except TerminalError as e:
        return f"callee failed {e.status_code}: {e.message}"
    return "unreachable"


@calls.handler()
async def generic(ctx: restate.Context, name: str) -> str:
    raw = await ctx.generic_call("Greeter", "greet", arg=f'"{name}"'.encode())
    return raw.decode()


@calls.handler()
async def awake(ctx: restate.Context, outcome: str) -> str:
    """Creates an awakeable and asks Calls/complete to resolve or reject it."""
    awakeable_id, fut = ctx.awakeable(type_hint=str)
    ctx.service_send(complete, arg={"id": awakeable_id, "outcome": outcome})
    try:
        return f"awakeable:{await fut}"
    except TerminalError as e:
        return f"rejected:{e.status_code}:{e.message}"


@calls.handler()
async def complete(ctx: restate.Context, req: dict[str, str]) -> None:
    if req["outcome"] == "resolve":
        ctx.resolve_awakeable(req["id"], "resolved!")
    else:
        ctx.reject_awakeable(req["id"], "rejected!", 451)


@calls.handler()
async def send_id(ctx: restate.Context, name: str) -> bool:
    handle = ctx.service_send(greet, arg=name)
    return (await handle.invocation_id()).startswith("inv_1")


@calls.handler()
async def victim(ctx: restate.Context, key: str) -> str:
    """Records "started", sleeps long; on cancellation records it in Recorder/<key>."""
    ctx.object_send(record, key=key, arg="started")
    try:
        await ctx.sleep(timedelta(seconds=60))
    except TerminalError as e:
        ctx.object_send(record, key=key, arg=f"cancelled {e.status_code}")
        raise
    return "woke"


@calls.handler()
async def cancel_victim(ctx: restate.Context, key: str) -> bool:
    """Starts Calls/victim, waits until it runs, then cancels it through a SendSignal command."""
    handle = ctx.service_send(victim, arg=key)
    invocation_id = await handle.invocation_id()
    while "started" not in await ctx.object_call(lines, key=key, arg=None):
        await ctx.sleep(timedelta(milliseconds=50))
    ctx.cancel_invocation(invocation_id)
    return True


@calls.handler()
async def attach(ctx: restate.Context, name: str) -> str:
    handle = ctx.service_send(greet, arg=name)
    return await ctx.attach_invocation(await handle.invocation_id(), type_hint=str)


@calls.handler()
async def awake_external(ctx: restate.Context, key: str) -> str:
    """Publishes its awakeable id in Recorder/<key>, waits for someone outside to resolve it."""
    awakeable_id, fut = ctx.awakeable(type_hint=str)
    ctx.object_send(record, key=key, arg=awakeable_id)
    value = await fut
    ctx.object_send(record, key=key, arg=f"got {value}")
    return value


@calls.handler()
async def idempotent_twice(ctx: restate.Context, key: str) -> bool:
    first = ctx.service_call(greet, arg="idem", idempotency_key=key)
    second = ctx.service_call(greet, arg="idem", idempotency_key=key)
    return (await first.invocation_id()) == (await second.invocation_id())


# --- Virtual objects -------------------------------------------------------------------------

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


@counter.handler()
async def keys(ctx: restate.ObjectContext) -> list[str]:
    ctx.set("other", "x")
    return sorted(await ctx.state_keys())


@counter.handler()
async def reset(ctx: restate.ObjectContext) -> int:
    ctx.clear("other")
    ctx.clear_all()
    return (await ctx.get("count", type_hint=int)) or 0


@counter.handler()
async def set_ab(ctx: restate.ObjectContext) -> None:
    ctx.set("a", 1)
    ctx.set("b", 2)


@counter.handler()
async def clear_b_then_keys(ctx: restate.ObjectContext) -> list[str]:
    """Clears `b`, then lists the keys in the same invocation (from the eager state)."""
    ctx.clear("b")
    return sorted(await ctx.state_keys())


lazy_counter = restate.VirtualObject("LazyCounter", enable_lazy_state=True)


@lazy_counter.handler(name="add")
async def lazy_add(ctx: restate.ObjectContext, delta: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    ctx.set("count", count + delta)
    return count + delta


@lazy_counter.handler(name="keys")
async def lazy_keys(ctx: restate.ObjectContext) -> list[str]:
    return sorted(await ctx.state_keys())


recorder = restate.VirtualObject("Recorder")


@recorder.handler()
async def record(ctx: restate.ObjectContext, line: str) -> None:
    lines = (await ctx.get("lines", type_hint=list[str])) or []
    ctx.set("lines", [*lines, line])


@recorder.handler(kind="shared")
async def lines(ctx: restate.ObjectSharedContext) -> list[str]:
    return (await ctx.get("lines", type_hint=list[str])) or []


# --- Workflow --------------------------------------------------------------------------------

signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("status", "waiting")
    confirmation = await ctx.promise("confirm", type_hint=str).value()
    ctx.set("status", "confirmed")
    return f"confirmed:{email}:{confirmation}"


@signup.handler()
async def confirm(ctx: restate.WorkflowSharedContext, answer: str) -> None:
    await ctx.promise("confirm", type_hint=str).resolve(answer)


@signup.handler()
async def status(ctx: restate.WorkflowSharedContext) -> str:
    return (await ctx.get("status", type_hint=str)) or "unknown"


# ---------------------------------------------------------------------------------------------

app = restate.app(services=[greeter, timers, failures, calls, counter, lazy_counter, recorder, signup])
