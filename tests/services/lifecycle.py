"""Official-SDK services for the invocation-lifecycle tests (objects, workflows, awakeables, ...).

This module runs ONLY inside `.venv-official`, where `import restate` is the official
`restate-sdk` (1.3.0), under hypercorn (see `tests.support.services.ServiceProcess`).

Handlers report what they did by appending lines to SIDE_EFFECT_FILE, one event a line:

  awakeable <label> <sign_1...>     an awakeable was created and is now awaited (durable, via ctx.run)
  enter <label>                     a handler attempt started (NOT durable: one line per attempt)
  suspended <label>                 the SDK suspended the attempt while it awaited (NOT durable)
  attempt <label> <unix time>       one failing attempt of a Broken/Retried handler (NOT durable)
  append <key> <item>               Locker appended <item> to the list of <key> (durable)
  stamp <tag> <unix time>           Stamp.record ran (durable)
  attaching <invocation id>         Waiter.attach is about to attach to that invocation (durable)
  wf-run <key>                      Signup.run started its body (durable)

Environment:
  SIDE_EFFECT_FILE     the file above (default /dev/null)
  LIFECYCLE_SERVICES   comma-separated service names to serve (default: all of them)
  LIFECYCLE_VERSION    the tag `Versioned.run` returns (default "v1"), for the deployment tests
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

# (ruff files this one as third-party: our repository's `restate` package has no `exceptions`)
from restate.exceptions import SuspendedException

import restate
from restate import InvocationRetryPolicy


def _mark(line: str) -> str:
    """Append one line to SIDE_EFFECT_FILE; returns it (so it can be a ctx.run result)."""
    with open(os.environ.get("SIDE_EFFECT_FILE", "/dev/null"), "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return line


async def _await_awakeable(ctx: restate.Context, label: str) -> str:
    """Create an awakeable, publish its id (durably) as `awakeable <label> <id>`, and await it.

    A suspension while waiting is reported as `suspended <label>` (the SDK then ends the attempt).
    """
    awk_id, fut = ctx.awakeable(type_hint=str)
    await ctx.run_typed("publish", _mark, restate.RunOptions(), f"awakeable {label} {awk_id}")
    try:
        return await fut
    except SuspendedException:
        _mark(f"suspended {label}")
        raise


_failed_once: set[str] = set()


def _fail_once(label: str) -> None:
    """Raise a retryable error the first time `label` is seen by this process."""
    if label not in _failed_once:
        _failed_once.add(label)
        raise Exception(f"failing once for {label}")


# --- Locker (virtual object): the key's lock, the inbox, shared handlers ---------------------
# inactivity_timeout=1s: a gated invocation that waits longer than that suspends (bidi).

locker = restate.VirtualObject("Locker", inactivity_timeout=timedelta(seconds=1))


async def _append(ctx: restate.ObjectContext, item: str) -> list[str]:
    log = (await ctx.get("log", type_hint=list[str])) or []
    log.append(item)
    ctx.set("log", log)
    await ctx.run_typed("record", _mark, restate.RunOptions(), f"append {ctx.key()} {item}")
    return log


@locker.handler()
async def append(ctx: restate.ObjectContext, item: str) -> list[str]:
    return await _append(ctx, item)


@locker.handler()
async def gated_append(ctx: restate.ObjectContext, item: str) -> list[str]:
    """Waits for an awakeable (label `<key>/<item>`), then fails once (retry), then appends."""
    label = f"{ctx.key()}/{item}"
    _mark(f"enter {label}")
    await _await_awakeable(ctx, label)
    _fail_once(label)
    return await _append(ctx, item)


@locker.handler(kind="shared")
async def peek(ctx: restate.ObjectSharedContext) -> list[str]:
    return (await ctx.get("log", type_hint=list[str])) or []


@locker.handler(kind="shared")
async def shared_write(ctx: restate.ObjectSharedContext, value: str) -> str:
    """Tries to write state from a shared handler (the SDK's shared context types have no `set`)."""
    _mark(f"enter {ctx.key()}/shared_write")
    ctx.set("log", [value])  # type: ignore[attr-defined]
    return "written"


# --- StateBox / LazyBox (virtual objects): the state API, eager and lazy ----------------------


def _state_object(name: str, **options: Any) -> restate.VirtualObject:
    obj = restate.VirtualObject(name, **options)

    @obj.handler()
    async def script(ctx: restate.ObjectContext) -> list[Any]:
        """Every state operation in one invocation; returns what each read saw."""
        seen: list[Any] = [await ctx.state_keys()]
        ctx.set("a", 1)
        ctx.set("b", {"x": [1, 2]})
        seen += [await ctx.get("a"), await ctx.get("b"), sorted(await ctx.state_keys())]
        ctx.clear("a")
        seen += [await ctx.get("a"), sorted(await ctx.state_keys())]
        ctx.clear_all()
        seen += [await ctx.get("b"), await ctx.state_keys()]
        return seen

    @obj.handler()
    async def put(ctx: restate.ObjectContext, entries: dict[str, Any]) -> list[str]:
        for name, value in entries.items():
            ctx.set(name, value)
        return sorted(await ctx.state_keys())

    @obj.handler()
    async def clear(ctx: restate.ObjectContext, name: str) -> list[str]:
        ctx.clear(name)
        return sorted(await ctx.state_keys())

    @obj.handler()
    async def clear_all(ctx: restate.ObjectContext) -> list[str]:
        ctx.clear_all()
        return sorted(await ctx.state_keys())

    @obj.handler(kind="shared")
    async def get(ctx: restate.ObjectSharedContext, name: str) -> Any:
        return await ctx.get(name)

    @obj.handler(kind="shared")
    async def keys(ctx: restate.ObjectSharedContext) -> list[str]:
        return sorted(await ctx.state_keys())

    return obj


state_box = _state_object("StateBox")
lazy_box = _state_object("LazyBox", enable_lazy_state=True)


# --- Signup (workflow): run once per key, durable promises, shared handlers --------------------

signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, name: str) -> str:
    await ctx.run_typed("record", _mark, restate.RunOptions(), f"wf-run {ctx.key()}")
    ctx.set("status", "waiting")
    by = await ctx.promise("approval", type_hint=str).value()
    ctx.set("status", f"approved by {by}")
    return f"{name} approved by {by}"


@signup.handler()
async def approve(ctx: restate.WorkflowSharedContext, by: str) -> str:
    await ctx.promise("approval", type_hint=str).resolve(by)
    return f"resolved by {by}"


@signup.handler(name="peek")
async def peek_promise(ctx: restate.WorkflowSharedContext) -> str | None:
    return await ctx.promise("approval", type_hint=str).peek()


@signup.handler()
async def status(ctx: restate.WorkflowSharedContext) -> str | None:
    return await ctx.get("status", type_hint=str)


# --- Waiter (service): awakeables, resolve/reject/cancel/attach from a handler -----------------

waiter = restate.Service("Waiter")


@waiter.handler()
async def wait(ctx: restate.Context, label: str) -> str:
    """Publishes `awakeable <label> <id>` and returns the awakeable's value."""
    return await _await_awakeable(ctx, label)


@waiter.handler()
async def resolve(ctx: restate.Context, req: dict[str, str]) -> str:
    ctx.resolve_awakeable(req["id"], req["value"])
    return "resolved"


@waiter.handler()
async def reject(ctx: restate.Context, req: dict[str, str]) -> str:
    ctx.reject_awakeable(req["id"], req["message"])
    return "rejected"


@waiter.handler()
async def cancel(ctx: restate.Context, invocation_id: str) -> str:
    ctx.cancel_invocation(invocation_id)
    return "cancel sent"


@waiter.handler()
async def attach(ctx: restate.Context, invocation_id: str) -> str:
    await ctx.run_typed("mark", _mark, restate.RunOptions(), f"attaching {invocation_id}")
    return await ctx.attach_invocation(invocation_id, type_hint=str)


# --- Tally (virtual object) and IdemCaller: idempotency keys --------------------------------

tally = restate.VirtualObject("Tally")


@tally.handler()
async def bump(ctx: restate.ObjectContext, note: str) -> str:
    count = ((await ctx.get("count", type_hint=int)) or 0) + 1
    ctx.set("count", count)
    return f"{note}#{count}"


@tally.handler(kind="shared")
async def count(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("count", type_hint=int)) or 0


echo = restate.Service("Echo")


@echo.handler(name="echo")
async def echo_handler(ctx: restate.Context, text: str) -> str:
    return f"echo {text}"


idem_caller = restate.Service("IdemCaller")


@idem_caller.handler()
async def call_twice(ctx: restate.Context, req: dict[str, str]) -> list[str]:
    """Calls Tally/<key>/bump twice with the same idempotency key (and different bodies)."""
    first = await ctx.object_call(bump, key=req["key"], arg="one", idempotency_key=req["idem"])
    second = await ctx.object_call(bump, key=req["key"], arg="two", idempotency_key=req["idem"])
    return [first, second]


@idem_caller.handler()
async def send_twice(ctx: restate.Context, req: dict[str, str]) -> list[str]:
    """Sends Tally/<key>/bump twice with the same idempotency key; returns both invocation ids."""
    first = ctx.object_send(bump, key=req["key"], arg="one", idempotency_key=req["idem"])
    second = ctx.object_send(bump, key=req["key"], arg="two", idempotency_key=req["idem"])
    return [await first.invocation_id(), await second.invocation_id()]


# --- Stamp (service): delayed sends ------------------------------------------------------------

stamp = restate.Service("Stamp")


@stamp.handler()
async def record(ctx: restate.Context, tag: str) -> str:
    await ctx.run_typed("stamp", lambda: _mark(f"stamp {tag} {time.time():.6f}"))
    return tag


@stamp.handler()
async def schedule(ctx: restate.Context, tag: str) -> str:
    """Sends Stamp/record(tag) with a 500 ms delay."""
    handle = ctx.service_send(record, tag, send_delay=timedelta(milliseconds=500))
    return await handle.invocation_id()


# --- Broken / Retried (services): retries, pause, per-service retry policy ---------------------

broken = restate.Service(
    "Broken",
    invocation_retry_policy=InvocationRetryPolicy(
        initial_interval=timedelta(seconds=2), exponentiation_factor=1.0, max_interval=timedelta(seconds=2)
    ),
)


@broken.handler()
async def fail(ctx: restate.Context, label: str) -> str:
    """Fails every attempt (retryably), after marking `attempt <label> <time>`."""
    _mark(f"attempt {label} {time.time():.6f}")
    raise Exception(f"broken {label}")


retried = restate.Service(
    "Retried",
    invocation_retry_policy=InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=100),
        exponentiation_factor=1.0,
        max_interval=timedelta(milliseconds=100),
        max_attempts=3,
        on_max_attempts="kill",
    ),
)


@retried.handler(name="fail")
async def retried_fail(ctx: restate.Context, label: str) -> str:
    _mark(f"attempt {label} {time.time():.6f}")
    raise Exception(f"retried {label}")


# --- Private / PrivateCaller / Toggle: visibility ---------------------------------------------

private = restate.Service("Private", ingress_private=True)


@private.handler()
async def secret(ctx: restate.Context, who: str) -> str:
    return f"secret for {who}"


private_caller = restate.Service("PrivateCaller")


@private_caller.handler(name="call")
async def call_private(ctx: restate.Context, who: str) -> str:
    return await ctx.service_call(secret, who)


toggle = restate.Service("Toggle")


@toggle.handler()
async def ping(ctx: restate.Context) -> str:
    return "pong"


# --- Versioned (service): deployment pinning --------------------------------------------------

versioned = restate.Service("Versioned", inactivity_timeout=timedelta(seconds=1))


@versioned.handler(name="run")
async def versioned_run(ctx: restate.Context, label: str) -> str:
    """Waits for an awakeable (label `<label>`), then returns `<label> on <LIFECYCLE_VERSION>`."""
    await _await_awakeable(ctx, label)
    return f"{label} on {os.environ.get('LIFECYCLE_VERSION', 'v1')}"


@versioned.handler()
async def version(ctx: restate.Context) -> str:
    return os.environ.get("LIFECYCLE_VERSION", "v1")


ALL = [
    locker, state_box, lazy_box, signup, waiter, tally, echo, idem_caller, stamp,
    broken, retried, private, private_caller, toggle, versioned,
]  # fmt: skip


def _selected() -> list[Any]:
    names = os.environ.get("LIFECYCLE_SERVICES", "")
    if not names:
        return ALL
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    return [s for s in ALL if s.name in wanted]


app = restate.app(services=_selected())
