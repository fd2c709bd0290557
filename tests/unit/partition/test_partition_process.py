"""The partition process never stalls silently: its heartbeat comes from the main loop, and a failure of
the loop or of any task it cannot run without is logged and ends `PartitionActor.run` with exit code 1
(the supervisor then restarts the process). The actor runs here in-process on a temporary data dir."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from restate import metrics, wire
from restate.actors import timers
from restate.actors.essential_tasks import EssentialTasks
from restate.actors.faults import FAIL_COMMIT_ENV, commit_fault
from restate.actors.partition import PartitionActor
from restate.actors.timers import TimerService
from restate.config import Config
from restate.invoker.invoker import Invoker
from restate.partition.commands import InvokeCmd
from restate.schema import Schema
from restate.storage.db import StorageError
from restate.storage.partition_store import PartitionStore
from restate.storage.tables import Tables
from tests.unit.partition.harness import make_schema, request, sink

DEADLINE_S = 10.0
Failures = list[tuple[str, BaseException]]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(base_dir=str(tmp_path / "data"), default_num_partitions=2)


@pytest.fixture
def actor(config: Config) -> Iterator[PartitionActor]:
    """An actor that is not run (`run` closes its store and node itself)."""
    a = PartitionActor(config, 0)
    yield a
    a.store.close()
    a.node.close()


def heartbeat(partition: int = 0) -> float | None:
    return REGISTRY.get_sample_value(metrics.PARTITION_HEARTBEAT, {"partition_id": str(partition)})


async def until(condition: Callable[[], object], what: str) -> None:
    """Polls `condition()` on the event loop until it holds (bounded)."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_S}s"
        await asyncio.sleep(0.001)


# --- the heartbeat


def test_the_heartbeat_is_written_by_the_main_loop(actor: PartitionActor) -> None:
    async def scenario() -> None:
        actor.stats.metrics.heartbeat.set(0)
        for _ in range(3):  # the ticker's requests while no loop takes them: no beat, one request queued
            actor.request_heartbeat()
        assert heartbeat() == 0 and actor.queue.qsize() == 1
        loop = asyncio.create_task(actor._main_loop())
        try:
            await until(lambda: actor.queue.empty() and heartbeat(), "the main loop beats")
            first = heartbeat()
            assert first is not None and abs(time.time() - first) < DEADLINE_S
            actor.request_heartbeat()  # the next request is queued again, and taken again
            assert actor.queue.qsize() == 1
            await until(actor.queue.empty, "the second request is taken")
        finally:
            loop.cancel()

    asyncio.run(scenario())


# --- replies leave as soon as their batch is durable


class _RecordingDealer:
    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def send(self, data: bytes, flags: int = 0) -> None:
        self.sent.append(data)


def test_a_reply_is_handed_to_the_transport_before_the_loop_runs_anything_else(actor: PartitionActor) -> None:
    """The latency of a call: once its batch is committed, the reply goes to ZeroMQ in the same step of the
    loop, not after whatever other callbacks were ready (the invoker's I/O, the receiver)."""
    sent: list[bytes] = []
    actor.node._dealer = lambda peer: _RecordingDealer(sent)  # type: ignore[method-assign]
    seen_by_next_callback: list[int] = []
    commit = actor._commit

    def commit_then_queue_a_callback(txn: object) -> None:
        commit(txn)  # type: ignore[arg-type]
        asyncio.get_running_loop().call_soon(lambda: seen_by_next_callback.append(len(sent)))

    actor._commit = commit_then_queue_a_callback  # type: ignore[method-assign]
    actor.schema = make_schema()

    async def scenario() -> None:
        loop = asyncio.create_task(actor._main_loop())
        try:
            actor.queue.put_nowait(InvokeCmd(request(), sink(1), True))  # a send: Accepted once durable
            await until(lambda: seen_by_next_callback, "the batch is committed")
        finally:
            loop.cancel()

    asyncio.run(scenario())
    assert seen_by_next_callback == [1]
    [message] = wire.decode(sent[0])
    assert isinstance(message, wire.Accepted) and message.request_id == 1


# --- failures end the process


async def start(actor: PartitionActor) -> asyncio.Task[int]:
    """Runs the actor and hands it the schema (admin's answer), as in the partition process."""
    actor.stats.metrics.heartbeat.set(0)
    run = asyncio.create_task(actor.run())
    await asyncio.sleep(0)
    actor._on_message("admin", wire.SchemaUpdate(make_schema()))
    await until(heartbeat, "the main loop's first beat")  # recovered, and every loop started
    return run


def critical(caplog: pytest.LogCaptureFixture, what: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.getMessage() == f"p0: {what} failed; exiting so that the supervisor restarts it"
    return record


def test_a_failing_commit_ends_the_partition_with_exit_code_1(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(FAIL_COMMIT_ENV, "0:1")
    req = request()

    async def scenario() -> int:
        actor = PartitionActor(config, 0)
        run = await start(actor)
        actor.queue.put_nowait(InvokeCmd(req, sink(1)))
        return await asyncio.wait_for(run, DEADLINE_S)

    assert asyncio.run(scenario()) == 1
    record = critical(caplog, "the partition loop")
    assert record.exc_info is not None and isinstance(record.exc_info[1], StorageError)
    store = PartitionStore(Path(config.base_dir) / "partitions" / "0")
    try:
        assert Tables(store.transaction()).status(req.invocation_id) is None  # the batch never reached the disk
    finally:
        store.close()
    # the fault fires once per data directory: a restarted partition commits normally
    fault = commit_fault(config.base_dir, 0)
    assert fault is not None and not fault._claim()


def test_a_failing_receiver_ends_the_partition(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> int:
        actor = PartitionActor(config, 0)
        run = await start(actor)

        async def broken_recv() -> tuple[str, wire.Message]:
            raise RuntimeError("socket gone")

        actor.node.recv = broken_recv  # type: ignore[method-assign]
        actor.node.send("p0", wire.GetSchema())  # wakes the receiver, whose next recv fails
        return await asyncio.wait_for(run, DEADLINE_S)

    assert asyncio.run(scenario()) == 1
    record = critical(caplog, "the receiver")
    assert record.exc_info is not None and str(record.exc_info[1]) == "socket gone"


def test_a_stop_signal_ends_the_partition_with_exit_code_0(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> int:
        actor = PartitionActor(config, 0)
        run = await start(actor)
        actor._stopping.set()  # what SIGTERM does
        return await asyncio.wait_for(run, DEADLINE_S)

    assert asyncio.run(scenario()) == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- the essential tasks


def test_essential_tasks_report_the_first_failure_once(caplog: pytest.LogCaptureFixture) -> None:
    stops: list[None] = []

    async def boom() -> None:
        raise ValueError("boom")

    async def returns() -> None:
        return None

    async def forever() -> None:
        await asyncio.Event().wait()

    async def scenario() -> EssentialTasks:
        tasks = EssentialTasks("p0", lambda: stops.append(None))
        tasks.spawn("a lookup", returns(), may_return=True)
        tasks.spawn("a waiter", forever())
        await until(lambda: len(asyncio.all_tasks()) == 2, "the lookup returned")
        assert not tasks.failed and stops == []  # a task that may return did, nothing failed
        tasks.spawn("the boom", boom())
        tasks.spawn("a loop", returns())  # must not return: a failure too, but not the first
        await until(lambda: len(stops) == 2, "both failures reported")
        await tasks.cancel_all()  # cancelling is no failure
        return tasks

    assert asyncio.run(scenario()).failed
    assert len(stops) == 2
    critical(caplog, "the boom")


# --- callbacks outside tasks


def test_a_failing_timer_reload_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timers, "HORIZON_MS", 20)  # reload every 10 ms
    scans: list[int] = []
    failures: Failures = []

    def scan(until_ms: int) -> Iterator[tuple[int, bytes, int]]:
        scans.append(until_ms)
        if len(scans) > 1:
            raise StorageError("LevelDB read failed")
        return iter(())

    async def scenario() -> None:
        service = TimerService(scan, lambda cmd: None, lambda what, exc: failures.append((what, exc)))
        service.start()
        await until(lambda: failures, "the failure of the periodic reload")
        service.stop()

    asyncio.run(scenario())
    [(what, exc)] = failures
    assert what == "the timer reload" and isinstance(exc, StorageError)


def test_a_failing_delayed_attempt_start_is_reported(tmp_path: Path) -> None:
    failures: Failures = []
    store = PartitionStore(tmp_path / "p0")

    async def scenario() -> None:
        invoker = Invoker(Config(), store, lambda cmd: None, Schema, on_failure=lambda w, e: failures.append((w, e)))
        store.close()  # reading the invocation when the attempt starts fails
        invoker.start(b"\x01" * 24, delay_ms=1)
        await until(lambda: failures, "the failure of the delayed start")
        await invoker.close()

    asyncio.run(scenario())
    [(what, exc)] = failures
    assert what == "a delayed attempt start"
