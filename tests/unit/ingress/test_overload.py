"""Ingress back-pressure: the real server's load-shedding answer (429) when over the concurrency limit or when
a partition has too many requests it did not make durable yet."""

from __future__ import annotations

import asyncio
import json

from restate.ingress.app import IngressApp
from restate.ipc.partition_rpc import Overloaded
from restate.wire import InvocationDone, InvocationRequest
from tests.unit.ingress.fixtures import FakeDispatcher, drive

# What restate-server 1.7.12 answers with RESTATE_INGRESS__CONCURRENT_API_REQUESTS_LIMIT=1 while one request
# runs (measured: every route, /restate/health too; no retry-after header)
JSON = [("content-type", "application/json")]
REAL_BODY = {"code": 429, "message": "too many requests, the ingress is overloaded. Retry later.", "source": "ingress"}


class Blocking(FakeDispatcher):
    """Calls wait until the test releases them."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.entered = 0

    async def call(self, request: InvocationRequest) -> InvocationDone:
        self.entered += 1
        await self.release.wait()
        return await super().call(request)


def test_over_the_concurrency_limit_every_route_answers_429_as_the_real_server() -> None:
    async def scenario() -> None:
        fake = Blocking()
        app = IngressApp(fake, concurrency_limit=2)
        running = [asyncio.create_task(drive(app, "POST", "/Greeter/greet", b'"a"', JSON)) for _ in range(2)]
        while fake.entered < 2:
            await asyncio.sleep(0)
        for target in ("/Greeter/greet", "/restate/health"):
            method = "GET" if target.endswith("health") else "POST"
            reply = await drive(app, method, target, b'"b"' if method == "POST" else b"", JSON)
            assert reply.status == 429 and json.loads(reply.body) == REAL_BODY
            assert reply.header("x-restate-error-source") == "ingress"
            assert reply.header("retry-after") is None
        fake.release.set()
        assert [r.status for r in await asyncio.gather(*running)] == [200, 200]
        assert (await drive(app, "POST", "/Greeter/greet", b'"c"', JSON)).status == 200  # room again

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_no_limit_by_default() -> None:
    async def scenario() -> None:
        fake = Blocking()
        app = IngressApp(fake)
        running = [asyncio.create_task(drive(app, "POST", "/Greeter/greet", b'"a"', JSON)) for _ in range(50)]
        while fake.entered < 50:
            await asyncio.sleep(0)
        fake.release.set()
        assert {r.status for r in await asyncio.gather(*running)} == {200}

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_saturated_partition_is_answered_429_for_calls_sends_and_reads() -> None:
    async def scenario() -> None:
        fake = FakeDispatcher(fail_with=Overloaded("p0 has 10000 requests not yet durable"))
        app = IngressApp(fake)
        for method, target in [
            ("POST", "/Greeter/greet"),
            ("POST", "/Greeter/greet/send"),
            ("GET", "/restate/invocation/inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY/output"),
        ]:
            reply = await drive(app, method, target, b'"a"' if method == "POST" else b"", JSON)
            assert (reply.status, json.loads(reply.body)) == (429, REAL_BODY), target

    asyncio.run(asyncio.wait_for(scenario(), 10))
