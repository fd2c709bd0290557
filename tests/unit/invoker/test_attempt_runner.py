"""The attempt's I/O shell and the invoker's retry decisions, over fake HTTP clients (no sockets)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from restate.config import Config
from restate.invoker.attempt import AttemptMachine, Failed
from restate.invoker.attempt_runner import AttemptRequest, AttemptRunner, DeploymentClients
from restate.invoker.http_common import ResponseHead, TransportError
from restate.invoker.invoker import Invoker
from restate.invoker.retry import Policy
from restate.partition.commands import AttemptFailedCmd, Command, EndCmd, SdkMessageCmd, SuspendedCmd
from restate.protocol import content_type, encode_message, pb
from restate.schema import Schema
from restate.storage.partition_store import PartitionStore

INV = b"\x07" * 24
CT6 = content_type(6)
SET_STATE = encode_message(pb.SetStateCommandMessage(key=b"k", value=pb.Value(content=b"v")))
END = encode_message(pb.EndMessage())
SUSPEND = encode_message(pb.SuspensionMessage(waiting_completions=[1]))
REQUEST = AttemptRequest("http://deployment:9080", "/invoke/S/h", [("content-type", CT6)], b"<start>")
BOUND = 5.0  # seconds any wait in these tests may take before it counts as a hang


class FakeStream:
    """An h2 stream whose response the test writes; records what the attempt wrote and how it closed."""

    def __init__(self, status: int = 200, ct: str = CT6) -> None:
        self.written: list[bytes] = []
        self.ended = asyncio.Event()
        self.was_reset = False
        self._head = ResponseHead(status, [("content-type", ct)])
        self._chunks: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._sink: Callable[[bytes], None] | None = None

    def respond(self, chunk: bytes) -> None:
        """A response body chunk (b"": the response ended); fed to the sink at once, as the h2 stream does."""
        if self._sink is not None and chunk:
            self._sink(chunk)
        else:
            self._sink = None if not chunk else self._sink  # the h2 stream drops its sink at the end
            self._chunks.put_nowait(chunk)

    def write(self, data: bytes) -> None:
        assert not self.ended.is_set(), "write after end"
        self.written.append(data)

    def end(self) -> None:
        self.ended.set()

    def reset(self) -> None:
        self.was_reset, self._sink = True, None
        self._chunks.put_nowait(TransportError("stream was reset locally"))

    async def response_head(self) -> ResponseHead:
        return self._head

    async def read(self) -> bytes:
        item = await self._chunks.get()
        if isinstance(item, Exception):
            self._chunks.put_nowait(item)
            raise item
        return item

    def deliver_to(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        kept: list[bytes | Exception] = []
        while not self._chunks.empty():
            item = self._chunks.get_nowait()
            if isinstance(item, bytes) and item:
                sink(item)
            else:
                kept.append(item)
        for item in kept:
            self._chunks.put_nowait(item)

    async def wait_end(self) -> None:
        while (item := await self.read()) != b"":
            raise AssertionError(f"chunk {item!r} queued while a sink is set")
        self._sink = None


class FakePool:
    def __init__(self, stream: FakeStream | Exception, ready: bool = False) -> None:
        self.stream = stream
        self.ready = ready  # a connection with room is ready: open_stream_now opens at once

    def open_stream_now(self, *args: Any, **kwargs: Any) -> FakeStream | None:
        if isinstance(self.stream, Exception):
            raise self.stream
        return self.stream if self.ready else None

    async def open_stream(self, *args: Any, **kwargs: Any) -> FakeStream:
        if isinstance(self.stream, Exception):
            raise self.stream
        return self.stream

    async def close(self) -> None:
        pass


class FakeResponse:
    """An HTTP/1.1 response with its whole body known."""

    def __init__(self, body: bytes) -> None:
        self.head = ResponseHead(200, [("content-type", CT6)])
        self._parts = [body, b""]
        self.closed = False

    async def read(self) -> bytes:
        return self._parts.pop(0) if self._parts else b""

    def close(self) -> None:
        self.closed = True


class FakeH1:
    def __init__(self, response: FakeResponse) -> None:
        self.response = response
        self.bodies: list[bytes] = []

    async def open(self, base_url: str, method: str, path: str, headers: Any, body: bytes) -> FakeResponse:
        self.bodies.append(body)
        return self.response


class Harness:
    """An invoker whose attempts reach fake clients; what it emits lands in `emitted`."""

    def __init__(self, tmp_path: Path, pool: FakePool | None = None, h1: FakeH1 | None = None) -> None:
        self.emitted: list[Command] = []
        self.statuses: list[int] = []
        self.invoker = Invoker(Config(), PartitionStore(tmp_path / "p0"), self.emitted.append, Schema)
        self.invoker.clients = DeploymentClients(pool, h1)  # type: ignore[arg-type]

    def runner(
        self, number: int = 1, *, bidi: bool = True, inactivity_s: float = 60.0, abort_s: float = 600.0
    ) -> AttemptRunner:
        machine = AttemptMachine(known_entries=0, version=6, bidi=bidi, inactivity_s=inactivity_s, abort_s=abort_s)
        runner = AttemptRunner(
            INV, number, machine, self.invoker.clients, self.invoker._on_effect, self.statuses.append
        )
        self.invoker._attempts[INV] = runner
        return runner

    def start(self, runner: AttemptRunner) -> asyncio.Task[None]:
        runner.task = asyncio.create_task(runner.run(REQUEST))
        return runner.task


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            await coro()

    asyncio.run(bounded())


async def until(condition: Callable[[], bool]) -> None:
    """Yields to the loop until `condition` holds (bounded by run()'s timeout)."""
    while not condition():
        await asyncio.sleep(0)


def live_timers() -> list[asyncio.TimerHandle]:
    """Timer handles of attempts still scheduled on this loop (not the test's own time bound)."""
    loop = asyncio.get_running_loop()
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    return [
        h for h in scheduled if not h.cancelled() and isinstance(getattr(h._callback, "__self__", None), AttemptRunner)
    ]  # type: ignore[attr-defined]


# --- the shell


def test_a_re_armed_inactivity_timer_is_cancelled_when_the_attempt_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        runner = h.runner(inactivity_s=30.0)
        task = h.start(runner)
        await until(lambda: bool(stream.written))
        first = runner._timer
        assert first is not None and live_timers() == [first]
        stream.respond(SET_STATE)  # activity, then a tick before the deadline: the timer is armed again
        await until(lambda: len(h.emitted) == 1)
        first.cancel()  # as the loop does with a handle it runs: it leaves the schedule
        runner._on_timer()
        second = runner._timer
        assert second is not None and second is not first and live_timers() == [second]
        stream.respond(END)
        await until(lambda: len(h.emitted) == 2)
        assert live_timers() == []  # nothing outlives the attempt (it used to hold it for abort_s)
        stream.respond(b"")
        await task
        assert [type(c) for c in h.emitted] == [SdkMessageCmd, EndCmd]
        assert stream.written == [b"<start>"] and stream.ended.is_set() and not stream.was_reset

    run(scenario)


def test_a_finished_attempt_is_freed_without_the_cyclic_gc(tmp_path: Path) -> None:
    """A runner is no reference cycle (it used to hold a table of its own bound methods): the cyclic GC
    then ran about twice as often on the partition's hot path, one attempt per invocation."""

    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        machine = AttemptMachine(known_entries=0, version=6, bidi=True)
        runner = AttemptRunner(INV, 1, machine, h.invoker.clients, h.invoker._on_effect, h.statuses.append)
        task = runner.task = asyncio.create_task(runner.run(REQUEST))
        stream.respond(SET_STATE)
        stream.respond(END)
        stream.respond(b"")
        await task
        assert [type(c) for c in h.emitted] == [SdkMessageCmd, EndCmd]
        freed = weakref.ref(runner)
        del runner, task
        assert freed() is None  # freed by reference counting alone

    gc.disable()
    try:
        run(scenario)
    finally:
        gc.enable()


def test_inactivity_half_closes_and_the_sdk_suspends(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        task = h.start(h.runner(inactivity_s=0.01, abort_s=60.0))
        await asyncio.wait_for(stream.ended.wait(), BOUND)  # the request half-closed after 10 ms idle
        assert len(live_timers()) == 1  # the abort timer
        stream.respond(SUSPEND)
        stream.respond(b"")
        await task
        assert [type(c) for c in h.emitted] == [SuspendedCmd]
        assert live_timers() == []
        assert h.statuses == [200]

    run(scenario)


def test_abort_timeout_fails_the_attempt_and_resets_the_stream(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        await h.start(h.runner(inactivity_s=0.01, abort_s=0.01))
        assert stream.ended.is_set() and stream.was_reset
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd)
        assert (failed.failure.code, failed.failure.message) == (
            500,
            "the deployment did not finish within the abort timeout",
        )
        assert failed.retry_in_ms == 500
        assert live_timers() == []

    run(scenario)


def test_entries_from_the_partition_are_written_after_the_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        runner = h.runner()
        h.invoker.forward(INV, 0, b"<held>")  # before the stream opened
        task = h.start(runner)
        await until(lambda: len(stream.written) == 2)
        h.invoker.forward(INV, 1, b"<live>")
        h.invoker.forward(INV, 1, b"<duplicate>")
        assert stream.written == [b"<start>", b"<held>", b"<live>"]
        stream.respond(END)
        stream.respond(b"")
        await task

    run(scenario)


def test_a_connect_failure_is_reported_with_the_policy(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, FakePool(TransportError("cannot connect to deployment:9080: refused")))
        await h.start(h.runner(number=4))
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd)
        assert failed.attempt == 4
        assert failed.failure.message == "TransportError: cannot connect to deployment:9080: refused"
        assert h.statuses == []

    run(scenario)


def test_a_bad_status_is_counted_and_fails_with_its_code(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream(status=503)
        h = Harness(tmp_path, FakePool(stream))
        await h.start(h.runner())
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd)
        assert failed.failure.code == 503
        assert h.statuses == [503]
        assert stream.was_reset

    run(scenario)


def test_kill_stops_the_attempt_without_a_report(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        task = h.start(h.runner())
        await until(lambda: bool(stream.written))
        h.invoker.kill(INV)
        await task
        assert h.emitted == [] and stream.was_reset
        assert live_timers() == []

    run(scenario)


def test_request_response_sends_the_whole_request_and_reads_the_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        response = FakeResponse(SET_STATE + END)
        h1 = FakeH1(response)
        h = Harness(tmp_path, h1=h1)
        runner = h.runner(bidi=False)
        task = h.start(runner)
        h.invoker.forward(INV, 0, b"<entry>")  # request/response: the next attempt replays it
        await task
        assert h1.bodies == [b"<start>"]
        assert [type(c) for c in h.emitted] == [SdkMessageCmd, EndCmd]
        assert response.closed and live_timers() == []

    run(scenario)


def test_a_crash_in_the_shell_is_reported_as_an_internal_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        class Broken(FakeStream):
            async def response_head(self) -> ResponseHead:
                raise ValueError("bug")

        h = Harness(tmp_path, FakePool(Broken()))
        await h.start(h.runner())
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd)
        assert failed.failure.message == "internal error: ValueError('bug')"

    run(scenario)


def test_with_a_ready_connection_the_request_is_queued_before_the_task_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream, ready=True))
        runner = h.runner()
        runner.open_now(REQUEST)
        assert stream.written == [b"<start>"]  # in the caller's step: no task has run yet
        task = h.start(runner)
        stream.respond(SET_STATE)
        stream.respond(END)
        await until(lambda: len(h.emitted) == 2)
        stream.respond(b"")
        await task
        assert [type(c) for c in h.emitted] == [SdkMessageCmd, EndCmd]
        assert stream.written == [b"<start>"] and stream.ended.is_set()  # written once, not again by run()

    run(scenario)


def test_open_now_leaves_a_bad_address_to_the_task(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, FakePool(TransportError("unsupported scheme"), ready=True))
        runner = h.runner()
        runner.open_now(REQUEST)  # does not raise into the partition's step
        await h.start(runner)
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd) and "unsupported scheme" in failed.failure.message

    run(scenario)


def test_open_now_leaves_any_error_of_the_pool_to_the_task(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, FakePool(ValueError("h2 bug"), ready=True))
        runner = h.runner()
        runner.open_now(REQUEST)
        await h.start(runner)
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd) and failed.failure.message == "internal error: ValueError('h2 bug')"

    run(scenario)


def test_a_crash_while_feeding_a_chunk_resets_the_stream_and_is_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))

        class Broken(AttemptMachine):
            def notify_response_data(self, chunk: bytes, now: float) -> None:
                raise ValueError("bad chunk")

        machine = Broken(known_entries=0, version=6, bidi=True)
        runner = AttemptRunner(INV, 1, machine, h.invoker.clients, h.invoker._on_effect, h.statuses.append)
        h.invoker._attempts[INV] = runner
        task = h.start(runner)
        await until(lambda: stream._sink is not None)
        stream.respond(SET_STATE)  # raises inside the sink, as in the connection's read callback: not here
        await task
        assert stream.was_reset
        (failed,) = h.emitted
        assert isinstance(failed, AttemptFailedCmd)
        assert failed.failure.message == "internal error: ValueError('bad chunk')"

    run(scenario)


# --- the retry policy, decided by the invoker only


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def report(h: Harness, failed: Failed, number: int = 1) -> AttemptFailedCmd:
    h.invoker._report_failure(INV, number, failed)
    cmd = h.emitted.pop()
    assert isinstance(cmd, AttemptFailedCmd)
    return cmd


def test_the_policy_backs_off_then_gives_up(harness: Harness) -> None:
    harness.invoker._policies[INV] = Policy(initial_interval_ms=100, max_attempts=3, on_max_attempts="kill")
    delays = [report(harness, Failed(500, "x")).retry_in_ms for _ in range(2)]
    last = report(harness, Failed(500, "x"))
    assert delays == [100, 200]
    assert (last.retry_in_ms, last.give_up) == (None, "kill")


def test_the_deployments_hint_and_behavior_override_the_policy(harness: Harness) -> None:
    assert report(harness, Failed(500, "x", retry_delay_ms=42)).retry_in_ms == 42
    paused = report(harness, Failed(500, "x", give_up="pause"))
    assert (paused.retry_in_ms, paused.give_up) == (None, "pause")
    assert report(harness, Failed(500, "x")).retry_in_ms == 500  # neither used up a policy attempt


def test_failure_details_reach_the_command(harness: Harness) -> None:
    cmd = report(harness, Failed(422, "boom", "trace"), number=9)
    assert (cmd.invocation_id, cmd.attempt) == (INV, 9)
    assert (cmd.failure.code, cmd.failure.message, cmd.failure.stacktrace) == (422, "boom", "trace")


def test_progress_resets_the_retry_count_sent_in_the_next_start(harness: Harness) -> None:
    report(harness, Failed(500, "x"))
    report(harness, Failed(500, "x"))
    assert harness.invoker._retry_state(INV).since_last_entry == 2
    report(harness, Failed(500, "x", made_progress=True))
    assert harness.invoker._retry_state(INV).since_last_entry == 1  # this failure, after the new entry
    assert harness.invoker._retry_state(INV).failures == 3


def test_end_and_suspension_forget_the_retry_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream = FakeStream()
        h = Harness(tmp_path, FakePool(stream))
        report(h, Failed(500, "x"))
        task = h.start(h.runner())
        stream.respond(END)
        stream.respond(b"")
        await task
        assert INV not in h.invoker._retries

    run(scenario)
