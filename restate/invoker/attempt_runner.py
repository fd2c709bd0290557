"""The I/O shell of one attempt: carries an AttemptMachine over an h2c stream or an HTTP/1.1 exchange."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from restate.invoker.attempt import (
    ArmTimer,
    AttemptMachine,
    CancelTimer,
    CloseTransport,
    Effect,
    Ended,
    Failed,
    HalfCloseRequest,
    JournalMessage,
    SendFrames,
    Suspended,
)
from restate.invoker.http1 import Http1Client, Http1Response
from restate.invoker.http2 import Http2Pool, Http2Stream
from restate.invoker.http_common import TransportError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AttemptRequest:
    """What an attempt sends first: where, its headers, and StartMessage + the journal to replay."""

    base_url: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class DeploymentClients:
    """The HTTP clients attempts reach deployments with (shared by every attempt of a partition)."""

    h2: Http2Pool
    h1: Http1Client


class AttemptRunner:
    """Runs one attempt: feeds transport events, entries and ticks to its machine and does what it asks.
    Effects for the partition go to `report`; response status codes to `observe_status` (metrics)."""

    def __init__(
        self,
        invocation_id: bytes,
        number: int,
        machine: AttemptMachine,
        clients: DeploymentClients,
        report: Callable[[AttemptRunner, Effect], None],
        observe_status: Callable[[int], None],
    ) -> None:
        self.invocation_id = invocation_id
        self.number = number  # the partition's attempt number: it ignores effects of other attempts
        self.machine = machine
        self.task: asyncio.Task[None] | None = None
        self._clients = clients
        self._observe_status = observe_status
        self._stream: Http2Stream | None = None
        self._response: Http1Response | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._report = report
        self._sink_error: Exception | None = None  # raised in _on_chunk, re-raised by the attempt's task

    # --- called by the invoker

    def deliver(self, index: int, frame: bytes) -> None:
        """A journal entry or notification from the partition (after its commit)."""
        data = self.machine.notify_entry(index, frame, time.monotonic())
        if data is not None and self._stream is not None:
            self._stream.write(data)

    def refuse(self, reason: str) -> None:
        """The partition refused one of this attempt's effects."""
        self.machine.notify_refused(reason)
        self._carry_out()

    def kill(self) -> None:
        """Drops the attempt without reporting anything."""
        self.machine.notify_killed()
        self._carry_out()

    async def run(self, request: AttemptRequest) -> None:
        """The whole attempt; every way it ends is reported through the machine."""
        try:
            if self.machine.bidi:
                await self._run_bidi(request)
            else:
                await self._run_request_response(request)
        except asyncio.CancelledError:
            pass  # killed, or the machine closed the transport: it reported what it had to
        except TransportError as exc:
            self.machine.notify_transport_error(exc)
            self._carry_out()
        except Exception as exc:
            log.exception("invocation attempt crashed", exc_info=exc)
            self.machine.notify_crash(exc)
            self._carry_out()
        finally:
            self._cancel_timer()
            if self._response is not None:
                self._response.close()

    def open_now(self, request: AttemptRequest) -> None:
        """Before run(): a bidi attempt whose deployment has a ready HTTP/2 connection with room opens its
        stream and queues its request here, in the caller's loop step (the partition's action), so they go out
        with that step's flush, one loop step and a task wake-up sooner; otherwise run() opens it."""
        if not self.machine.bidi:
            return
        try:
            stream = self._clients.h2.open_stream_now(request.base_url, "POST", request.path, request.headers)
        except Exception:  # a bad URL, h2 refusing the stream: run() meets it again, in the task, and reports it
            return
        if stream is not None:
            self._opened(stream, request)

    def _opened(self, stream: Http2Stream, request: AttemptRequest) -> None:
        self._stream = stream
        if not self.machine.is_reported:  # else killed or refused while connecting: notify_opened closes it
            stream.write(request.body)
        self.machine.notify_opened(time.monotonic())
        self._carry_out()

    async def _run_bidi(self, request: AttemptRequest) -> None:
        stream = self._stream
        if stream is None:
            stream = await self._clients.h2.open_stream(request.base_url, "POST", request.path, request.headers)
            self._opened(stream, request)
        head = await stream.response_head()
        self._observe_status(head.status)
        machine = self.machine
        machine.notify_response_head(head.status, head.get("content-type"))
        self._carry_out()
        stream.deliver_to(self._on_chunk)  # the body is fed from the connection's read callback
        try:
            await stream.wait_end()
        except TransportError:
            if self._sink_error is None:
                raise
        if self._sink_error is not None:
            raise self._sink_error
        machine.notify_response_end()
        self._carry_out()

    def _on_chunk(self, chunk: bytes) -> None:
        """A response body chunk, in the HTTP/2 connection's read callback: an error here must not reach the
        connection (it serves other attempts), so it resets this stream and the attempt's task raises it."""
        if self._sink_error is not None:
            return
        try:
            self.machine.notify_response_data(chunk, time.monotonic())
            self._carry_out()
        except Exception as exc:
            self._sink_error = exc
            if self._stream is not None:
                self._stream.reset()

    async def _run_request_response(self, request: AttemptRequest) -> None:
        h1 = self._clients.h1
        response = await h1.open(request.base_url, "POST", request.path, request.headers, request.body)
        self._response = response
        self.machine.notify_opened(time.monotonic())
        self._carry_out()
        await self._pump(response.head.status, response.head.get("content-type"), response.read)

    async def _pump(self, status: int, content_type: str | None, read: Callable[[], Awaitable[bytes]]) -> None:
        """Feeds an HTTP/1.1 response to the machine until it ends (after the outcome, the rest is drained)."""
        self._observe_status(status)
        machine = self.machine
        machine.notify_response_head(status, content_type)
        self._carry_out()
        while chunk := await read():
            machine.notify_response_data(chunk, time.monotonic())
            self._carry_out()
        machine.notify_response_end()
        self._carry_out()

    # --- outputs

    def _carry_out(self) -> None:
        for output in self.machine.take_outputs():
            _CARRY[type(output)](self, output)

    def _report_effect(self, effect: Effect) -> None:
        self._report(self, effect)

    def _send(self, output: SendFrames) -> None:
        if self._stream is not None:
            self._stream.write(output.data)

    def _half_close(self, _: object = None) -> None:
        if self._stream is not None:
            self._stream.end()

    def _arm_timer(self, output: ArmTimer) -> None:
        self._cancel_timer()
        delay = max(0.0, output.at - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.machine.notify_timer(time.monotonic())
        self._carry_out()

    def _cancel_timer(self, _: object = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close_transport(self, _: object = None) -> None:
        if self._stream is not None:
            self._stream.reset()
        if self._response is not None:
            self._response.close()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


#: What the shell does for each kind of output. Module-level on purpose: a table of bound methods on each
#: runner would make every runner a reference cycle (runner -> table -> bound method -> runner), freed
#: only by the cyclic GC, which then ran ~2x as often on the partition's hot path.
_CARRY: dict[type, Callable[[AttemptRunner, Any], None]] = {
    SendFrames: AttemptRunner._send,
    HalfCloseRequest: AttemptRunner._half_close,
    CloseTransport: AttemptRunner._close_transport,
    ArmTimer: AttemptRunner._arm_timer,
    CancelTimer: AttemptRunner._cancel_timer,
    JournalMessage: AttemptRunner._report_effect,
    Suspended: AttemptRunner._report_effect,
    Ended: AttemptRunner._report_effect,
    Failed: AttemptRunner._report_effect,
}
