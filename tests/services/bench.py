"""Official-SDK services for the benchmark harness (`bench/`, `make bench`).

This module runs ONLY inside `.venv-official`, where `import restate` is the official
`restate-sdk` (1.3.0), under hypercorn (see `tests.support.services.ServiceProcess`).
Every handler takes and returns a small JSON integer so the request bodies are identical for
both servers and the handlers cost as little as possible: the figures measure the server.

  Bench/noop        returns its input
  Bench/steps3      three `ctx.run` steps
  Bench/sleep10     a durable 10 ms sleep
  Bench/fanout10    calls Bench/noop 10 times in parallel and sums the results
  BenchObject/<key>/getset   reads the state "n", writes n + input, returns it (exclusive)
"""

from __future__ import annotations

from datetime import timedelta

import restate

bench = restate.Service("Bench")


@bench.handler()
async def noop(ctx: restate.Context, n: int) -> int:
    return n


def _one() -> int:
    return 1


@bench.handler()
async def steps3(ctx: restate.Context, n: int) -> int:
    total = n
    total += await ctx.run_typed("step1", _one)
    total += await ctx.run_typed("step2", _one)
    total += await ctx.run_typed("step3", _one)
    return total


@bench.handler()
async def sleep10(ctx: restate.Context, n: int) -> int:
    await ctx.sleep(timedelta(milliseconds=10))
    return n


@bench.handler()
async def fanout10(ctx: restate.Context, n: int) -> int:
    calls = [ctx.service_call(noop, arg=i) for i in range(10)]
    await restate.gather(*calls)
    total = n
    for call in calls:
        total += await call
    return total


bench_object = restate.VirtualObject("BenchObject")


@bench_object.handler()
async def getset(ctx: restate.ObjectContext, n: int) -> int:
    value = (await ctx.get("n", type_hint=int)) or 0
    value += n
    ctx.set("n", value)
    return value


app = restate.app(services=[bench, bench_object])
