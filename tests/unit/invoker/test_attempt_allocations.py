"""What an attempt keeps alive: the invoker shares its callbacks between attempts instead of building them
per attempt (each object an attempt holds makes the cyclic GC run sooner on the partition's hot path)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from restate.config import Config
from restate.invoker.attempt_runner import DeploymentClients
from restate.invoker.http1 import Http1Client
from restate.invoker.invoker import Invoker
from restate.partition.commands import Command, InvokeCmd
from tests.unit.partition.harness import Partition, request, sink

BOUND = 5.0  # seconds before a wait counts as a hang


class NeverConnects:
    """An h2 pool whose streams never open: the attempts stay running while the test looks at them."""

    def open_stream_now(self, *args: Any, **kwargs: Any) -> None:
        return None  # no connection ready: the attempt's task opens it

    async def open_stream(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


def test_attempts_share_the_invokers_callbacks(tmp_path: Path) -> None:
    partition = Partition(tmp_path / "p0")
    try:
        ids = []
        for n in range(2):
            req = request()
            partition.apply(InvokeCmd(req, sink(n)))
            ids.append(req.invocation_id)
        emitted: list[Command] = []

        async def scenario() -> None:
            invoker = Invoker(Config(), partition.store, emitted.append, lambda: partition.schema)
            invoker.clients = DeploymentClients(NeverConnects(), Http1Client())  # type: ignore[arg-type]
            for invocation_id in ids:
                invoker.start(invocation_id)
            first, second = (invoker._attempts[i] for i in ids)
            assert first is not second and first.task is not None and second.task is not None
            assert first._report is second._report  # one bound method of the invoker, not one per attempt
            assert first._observe_status is second._observe_status  # one per deployment
            await invoker.close()
            await asyncio.wait_for(asyncio.gather(first.task, second.task, return_exceptions=True), BOUND)

        asyncio.run(scenario())
        assert emitted == []  # killed by close(): nothing reported
    finally:
        partition.close()
