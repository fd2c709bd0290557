"""The invoker counts an attempt against its bounds when it launches it: a batch or a recovery never goes past."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from restate.config import Config
from restate.invoker.attempt_runner import DeploymentClients
from restate.invoker.invoker import Invoker
from restate.partition.commands import InvokeCmd
from tests.unit.partition.harness import Partition, request, sink

BOUND = 5.0  # seconds before a wait counts as a hang


class Gate:
    """Deployment clients whose connections open only when the test says so: attempts stay running."""

    def __init__(self) -> None:
        self.opened = 0
        self.release = asyncio.Event()

    def open_stream_now(self, *args: Any, **kwargs: Any) -> None:
        return None  # no connection ready: the attempt's task opens it

    async def open_stream(self, *args: Any, **kwargs: Any) -> None:
        self.opened += 1
        await self.release.wait()
        raise ConnectionError("the test's deployment is gone")

    async def close(self) -> None:
        pass


def _invocations(partition: Partition, n: int) -> list[bytes]:
    ids = []
    for k in range(n):
        req = request()
        partition.apply(InvokeCmd(req, sink(k)))
        ids.append(req.invocation_id)
    return ids


async def _close(invoker: Invoker) -> None:
    tasks = [a.task for a in invoker._attempts.values() if a.task is not None]
    await invoker.close()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), BOUND)


def test_a_batch_and_a_recovery_launch_at_most_the_limit(tmp_path: Path) -> None:
    partition = Partition(tmp_path / "p0")
    config = Config(invoker_concurrency=3, default_num_partitions=2)  # per partition, as the real server
    try:
        recovered = _invocations(partition, 20)
        fresh = _invocations(partition, 2)

        async def scenario() -> None:
            invoker = Invoker(config, partition.store, lambda c: None, lambda: partition.schema)
            gate = Gate()
            invoker.clients = DeploymentClients(gate, invoker.clients.h1)  # type: ignore[arg-type]
            for invocation_id in recovered:
                invoker.start(invocation_id, recovered=True)
            for invocation_id in fresh:
                invoker.start(invocation_id)
            assert len(invoker._attempts) == 3  # synchronously: the slots were taken at launch
            assert invoker.admission.waiting == 19
            await asyncio.sleep(0)
            assert gate.opened == 3
            # one attempt ends: the next launch is new work, not the 17 recovered ones still ahead of it
            first = invoker._attempts[recovered[0]]
            invoker.kill(recovered[0])
            assert first.task is not None
            await asyncio.wait_for(asyncio.gather(first.task, return_exceptions=True), BOUND)
            await asyncio.sleep(0)
            assert fresh[0] in invoker._attempts and len(invoker._attempts) == 3
            invoker.kill(fresh[1])  # a waiting one that is killed never launches
            assert invoker.admission.waiting == 17
            await _close(invoker)

        asyncio.run(scenario())
    finally:
        partition.close()


def test_a_slot_is_freed_when_the_invocation_is_gone_before_its_turn(tmp_path: Path) -> None:
    partition = Partition(tmp_path / "p0")
    config = Config(invoker_concurrency=1, default_num_partitions=1)
    try:
        ids = _invocations(partition, 2)

        async def scenario() -> None:
            invoker = Invoker(config, partition.store, lambda c: None, lambda: partition.schema)
            gate = Gate()
            invoker.clients = DeploymentClients(gate, invoker.clients.h1)  # type: ignore[arg-type]
            invoker.start(ids[0])
            invoker.start(ids[1])
            assert list(invoker._attempts) == [ids[0]]
            # the running attempt's task is cancelled before it ever ran: its slot still comes back
            invoker.kill(ids[0])
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert list(invoker._attempts) == [ids[1]] and invoker.admission.running == 1
            await _close(invoker)

        asyncio.run(scenario())
    finally:
        partition.close()
