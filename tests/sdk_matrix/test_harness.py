"""The SDK's test harness: `restate.create_test_harness(app)` on our server (default) and on the real one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import restate
from tests.support.paths import REAL_SERVER_BIN

harnessed = restate.VirtualObject("Harnessed")


@harnessed.handler()
async def bump(ctx: restate.ObjectContext, by: int) -> int:
    await ctx.sleep(timedelta(milliseconds=10))
    value = ((await ctx.get("n", type_hint=int)) or 0) + by
    ctx.set("n", value)
    return value


@harnessed.handler(kind="shared")
async def peek(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("n", type_hint=int)) or 0


APP = restate.app([harnessed])


@pytest.mark.parametrize("server", ["ours", "real"])
def test_create_test_harness(server: str) -> None:
    server_bin = str(REAL_SERVER_BIN) if server == "real" else None

    async def main() -> None:
        async with restate.create_test_harness(APP, server=server, server_bin=server_bin) as env:
            assert await env.client.object_call(bump, key="a", arg=2) == 2
            assert await env.client.object_call(bump, key="a", arg=3) == 5
            sent = await env.client.object_send(bump, key="b", arg=1)
            assert sent.invocation_id.startswith("inv_1")
            for _ in range(200):
                if await env.client.object_call(peek, key="b", arg=None) == 1:
                    break
                await asyncio.sleep(0.05)
            assert await env.client.object_call(peek, key="b", arg=None) == 1
            with pytest.raises(restate.HttpError) as raised:
                await env.client.generic_call("Nope", "nothing", b"")
            assert raised.value.status_code == 404

    asyncio.run(asyncio.wait_for(main(), 120))
