"""Services for the tracing tests (tests/integration/test_tracing.py): the official SDK's API, so the
official SDK (`.venv-official`) and ours run them alike.

Environment:
  GATE_FILE          file whose existence releases the second step of `TGated/run` (for the SIGKILL test)
  SDK_OTLP_ENDPOINT  with our SDK: its opt-in spans (handlers, ctx.run) go there over OTLP/HTTP
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

import restate

GATE_TIMEOUT_S = 60.0

greeter = restate.Service("TGreeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


@greeter.handler()
async def trace_headers(ctx: restate.Context) -> dict[str, str]:
    """The W3C headers of this attempt's /invoke request."""
    headers = {k.lower(): v for k, v in ctx.request().attempt_headers.items()}
    return {k: headers[k] for k in ("traceparent", "tracestate") if k in headers}


steps = restate.Service("TSteps")


@steps.handler()
async def steps3(ctx: restate.Context, n: int) -> int:
    """Three ctx.run steps and a durable sleep between the first two."""
    a = await ctx.run_typed("step-one", lambda: n + 1)
    await ctx.sleep(timedelta(milliseconds=50))
    b = await ctx.run_typed("step-two", lambda: a + 1)
    return await ctx.run_typed("step-three", lambda: b + 1)


sleepy = restate.Service("TSleepy")


@sleepy.handler()
async def nap(ctx: restate.Context, ms: int) -> str:
    """A durable sleep: with a short inactivity timeout the attempt suspends, the timer resumes it."""
    await ctx.sleep(timedelta(milliseconds=ms))
    return "rested"


caller = restate.Service("TCaller")


@caller.handler()
async def call(ctx: restate.Context, name: str) -> str:
    """A call (the callee joins this trace) and a one-way send (a new trace, linked)."""
    greeting = await ctx.service_call(greet, arg=name)
    ctx.service_send(greet, arg=f"{name} again")
    return greeting


flow = restate.Workflow("TFlow")


@flow.main()
async def run(ctx: restate.WorkflowContext, who: str) -> str:
    approval = await ctx.promise("approval", type_hint=str).value()
    return f"{who}: {approval}"


@flow.handler()
async def approve(ctx: restate.WorkflowSharedContext, answer: str) -> None:
    await ctx.promise("approval", type_hint=str).resolve(answer)


gated = restate.Service("TGated")


async def _wait_for_gate() -> str:
    gate = os.environ.get("GATE_FILE", "")
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not (gate and os.path.exists(gate)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate file {gate!r} did not appear within {GATE_TIMEOUT_S}s")
        await asyncio.sleep(0.02)
    return "opened"


@gated.handler()
async def run_gated(ctx: restate.Context, n: int) -> int:
    """step-one, then a step that waits for GATE_FILE, then step-three."""
    a = await ctx.run_typed("step-one", lambda: n + 1)
    await ctx.run_typed("gate", _wait_for_gate)
    return await ctx.run_typed("step-three", lambda: a + 1)


flaky = restate.Service("TFlaky")
_failed_once: set[str] = set()


@flaky.handler()
async def once(ctx: restate.Context, n: int) -> int:
    """Its first attempt fails (a retryable error), the retry succeeds."""
    inv = ctx.request().id
    if inv not in _failed_once:
        _failed_once.add(inv)
        raise RuntimeError("the first attempt fails")
    return n


@flaky.handler()
async def fail(ctx: restate.Context) -> None:
    """A terminal failure: the attempt ends normally, the invocation fails."""
    raise restate.TerminalError("boom", status_code=409)


def _sdk_tracer() -> object | None:
    """Our SDK's opt-in tracing: an OpenTelemetry tracer exporting at once (SimpleSpanProcessor)."""
    endpoint = os.environ.get("SDK_OTLP_ENDPOINT")
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "traced-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider.get_tracer("tests.services.traced")


_tracer = _sdk_tracer()
_services = [greeter, steps, sleepy, caller, flow, gated, flaky]
app = restate.app(services=_services)
if _tracer is not None:  # our SDK only (the official one has no tracing)
    from restate.sdk.otel import enable_tracing

    enable_tracing(app, _tracer)
