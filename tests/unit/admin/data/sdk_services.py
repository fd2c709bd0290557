"""Official-SDK services shaped like those of the admin transcripts; the source of the *_manifest.json files.

Runs only under .venv-official (`import restate` is the official SDK). The manifests were produced with
`restate.discovery.compute_discovery_json(endpoint, 4, "bidi" | "request_response")` for:
transcript = Greeter + Counter + Signup, tuned = Tuned, breaking = Counter as a plain Service,
extra = a Service "Extra" with `hi(str) -> str` (request/response).
`ADMIN_SVC_VARIANT=breaking` serves the breaking variant instead.
"""

from __future__ import annotations

import os
from datetime import timedelta

import restate
from restate import InvocationRetryPolicy

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


@greeter.handler()
async def retrying(ctx: restate.Context, name: str) -> str:
    return name


@greeter.handler()
async def slow(ctx: restate.Context, ms: int) -> str:
    return str(ms)


@greeter.handler()
async def waiter(ctx: restate.Context, name: str) -> str:
    return name


@greeter.handler()
async def fail(ctx: restate.Context, name: str) -> str:
    return name


@greeter.handler()
async def noinput(ctx: restate.Context) -> str:
    return "nothing"


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    return delta


@counter.handler()
async def block(ctx: restate.ObjectContext, ms: int) -> str:
    return str(ms)


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return 0


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    return email


@signup.handler()
async def stage(ctx: restate.WorkflowSharedContext) -> str:
    return "stage"


@signup.handler()
async def click(ctx: restate.WorkflowSharedContext, what: str) -> str:
    return what


tuned = restate.Service(
    "Tuned",
    description="A service with every policy set",
    metadata={"team": "a"},
    inactivity_timeout=timedelta(seconds=90),
    abort_timeout=timedelta(minutes=2),
    journal_retention=timedelta(hours=2),
    idempotency_retention=timedelta(days=3),
    invocation_retry_policy=InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=250),
        max_interval=timedelta(seconds=30),
        max_attempts=5,
        exponentiation_factor=1.5,
        on_max_attempts="kill",
    ),
)


@tuned.handler(
    accept="text/*",
    content_type="text/plain",
    input_serde=restate.serde.BytesSerde(),
    output_serde=restate.serde.BytesSerde(),
    inactivity_timeout=timedelta(seconds=5),
    invocation_retry_policy=InvocationRetryPolicy(max_attempts=3),
)
async def echo(ctx: restate.Context, data: bytes) -> bytes:
    return data


@tuned.handler(ingress_private=True)
async def hidden(ctx: restate.Context) -> None:
    return None


breaking_counter = restate.Service("Counter")


@breaking_counter.handler(name="add")
async def add_plain(ctx: restate.Context, delta: int) -> int:
    return delta


if os.environ.get("ADMIN_SVC_VARIANT") == "breaking":
    app = restate.app(services=[breaking_counter])
else:
    app = restate.app(services=[greeter, counter, signup])
