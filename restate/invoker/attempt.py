"""One invocation attempt: stream StartMessage + journal to the deployment and turn its replies into commands."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Literal

from restate.invoker.http1 import Http1Response
from restate.invoker.http2 import Http2Stream
from restate.invoker.http_common import ResponseHead, TransportError
from restate.partition.commands import AttemptFailedCmd, EndCmd, SdkMessageCmd, SuspendedCmd
from restate.protocol import Frame, FrameDecoder, MessageType, ProtocolError, decode_message, is_command
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.messages import content_type, suspension_future
from restate.wire import Failure

if TYPE_CHECKING:
    from restate.invoker.invoker import Invoker

log = logging.getLogger(__name__)
T = MessageType
GiveUp = Literal["pause", "kill"]


class AttemptError(Exception):
    """The attempt failed; `code` is the failure code recorded for it."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


class Attempt:
    """Runs one attempt of one invocation; emits commands to the partition in the order they arrive."""

    def __init__(
        self, invoker: Invoker, invocation_id: bytes, number: int, known_entries: int, version: int, bidi: bool
    ) -> None:
        self.invoker = invoker
        self.invocation_id = invocation_id
        self.number = number  # the partition's attempt number: it ignores effects of other attempts
        self.version = version
        self.bidi = bidi
        self.next_index = known_entries  # entries below this were replayed: never forward them again
        self.finished = False  # a terminal message or failure has been reported
        self.failure_reported = False
        self._stream: Http2Stream | None = None
        self._pending: list[bytes] = []
        self._request_open = True
        self._last_activity = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.inactivity_s = 60.0  # set by the invoker from the service's settings
        self.abort_s = 600.0
        self.deployment_id = ""  # set by the invoker (metrics)

    # --- called by the invoker (partition actions, after commit)

    def forward(self, index: int, frame: bytes) -> None:
        if index >= 0:
            if index < self.next_index:
                return
            self.next_index = index + 1
        if not self.bidi or not self._request_open or self.finished:
            return  # request/response: the next attempt replays it from the journal
        self._last_activity = time.monotonic()
        if self._stream is None:
            self._pending.append(frame)
        else:
            self._stream.write(frame)

    def abort(self, reason: str) -> None:
        """Fails the attempt because the partition refused one of its commands.

        This may arrive after the attempt sent End or Suspension (which the partition then ignores),
        so only an already reported failure makes it a no-op."""
        if self.failure_reported:
            return
        self._report_failure(Failure(500, reason), None, None)
        self._close_transport()

    def kill(self) -> None:
        """Drops the attempt without reporting anything."""
        self.finished = True
        self._close_transport()

    # --- the attempt itself

    async def run_bidi(self, base_url: str, path: str, headers: list[tuple[str, str]], body: bytes) -> None:
        stream = await self.invoker.h2.open_stream(base_url, "POST", path, headers)
        self._stream = stream
        if self.finished:
            stream.reset()
            return
        stream.write(body)
        for frame in self._pending:
            stream.write(frame)
        self._pending.clear()
        watchdog = asyncio.get_running_loop().call_later(self.inactivity_s, self._check_inactivity)
        try:
            self._check_head(await stream.response_head())
            await self._pump(stream.read)
        finally:
            watchdog.cancel()
            self._end_request()

    async def run_request_response(self, base_url: str, path: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self._request_open = False
        response: Http1Response = await self.invoker.h1.open(base_url, "POST", path, headers, body)
        try:
            self._check_head(response.head)
            await self._pump(response.read)
        finally:
            response.close()

    def _check_head(self, head: ResponseHead) -> None:
        self.invoker.metrics.response(self.deployment_id, head.status)
        if not 200 <= head.status < 300:
            raise AttemptError(f"the deployment answered with unexpected status code {head.status}", head.status)
        got = head.get("content-type")
        if got != content_type(self.version):
            raise AttemptError(f"the deployment answered with unexpected content-type {got!r}", 415)

    async def _pump(self, read: object) -> None:
        decoder = FrameDecoder()
        reader = read  # bound method returning bytes; b"" at the end of the response
        while True:
            chunk = await reader()  # type: ignore[operator]
            if not chunk:
                break
            self._last_activity = time.monotonic()
            if self.finished:
                continue  # draining after the terminal message
            for frame in decoder.push(chunk):
                if self._on_frame(frame):
                    self._end_request()
                    break
        if not self.finished:
            raise AttemptError("the deployment closed the response without End, Suspension or Error")

    def _on_frame(self, frame: Frame) -> bool:
        """Handles one message from the deployment; returns True when it ends the attempt."""
        t = frame.type
        inv = self.invocation_id
        if is_command(t) or t == T.PROPOSE_RUN_COMPLETION:
            if is_command(t):
                self.invoker.retry_state(inv).on_new_entry()
            self.invoker.emit(SdkMessageCmd(inv, self.number, t, frame.flags, bytes(frame.payload)))
            return False
        if t == T.AWAITING_ON:
            return False
        if t == T.SUSPENSION:
            msg = decode_message(frame)
            assert isinstance(msg, pb.SuspensionMessage)
            future = suspension_future(msg, self.version)
            if not (future.waiting_completions or future.waiting_signals or future.waiting_named_signals):
                if not future.nested_futures:
                    raise ProtocolError("suspension without anything to wait for")
            self.finished = True
            self.invoker.forget_retries(inv)
            self.invoker.metrics.suspended.inc()
            self.invoker.emit(SuspendedCmd(inv, self.number, future.SerializeToString()))
            return True
        if t == T.END:
            self.finished = True
            self.invoker.forget_retries(inv)
            self.invoker.metrics.completed.inc()
            self.invoker.emit(EndCmd(inv, self.number))
            return True
        if t == T.ERROR:
            err = decode_message(frame)
            assert isinstance(err, pb.ErrorMessage)
            self._on_error_message(err)
            return True
        raise ProtocolError(f"unexpected message type 0x{t:04x} from the deployment")

    def _on_error_message(self, err: pb.ErrorMessage) -> None:
        if err.HasField("related_command_index"):
            log.info(
                "attempt failed at command %s %r: [%s] %s",
                err.related_command_index,
                err.related_command_name,
                err.code,
                err.message,
            )
        delay = err.next_retry_delay if err.HasField("next_retry_delay") else None
        behavior: GiveUp | None = None
        if err.behavior == pb.ErrorMessage.PAUSE:
            behavior = "pause"
        elif err.behavior == pb.ErrorMessage.FAIL:
            behavior = "kill"
        failure = Failure(err.code or 500, err.message, [], err.stacktrace or None)
        self._report_failure(failure, delay, behavior)

    def fail_with(self, exc: BaseException) -> None:
        """Reports an exception that ended the attempt (transport, protocol, bad response)."""
        if self.finished:
            return
        if isinstance(exc, AttemptError):
            failure = Failure(exc.code, str(exc))
        elif isinstance(exc, TransportError | ProtocolError):
            failure = Failure(500, f"{type(exc).__name__}: {exc}")
        else:
            log.exception("invocation attempt crashed", exc_info=exc)
            failure = Failure(500, f"internal error: {exc!r}")
        self._report_failure(failure, None, None)
        self._close_transport()

    def _report_failure(self, failure: Failure, delay_ms: int | None, behavior: GiveUp | None) -> None:
        self.finished = True
        self.failure_reported = True
        inv = self.invocation_id
        retry_in: int | None
        give_up: GiveUp | None
        if behavior is not None:
            retry_in, give_up = None, behavior
        else:
            retry_in = self.invoker.retry_state(inv).on_failure(self.invoker.policy(inv), delay_ms)
            give_up = None if retry_in is not None else self.invoker.policy(inv).on_max_attempts
        self.invoker.metrics.failed.inc()
        if retry_in is not None:
            self.invoker.metrics.retries.inc()
        self.invoker.emit(AttemptFailedCmd(inv, self.number, failure, retry_in, give_up))

    # --- request half and timeouts

    def _end_request(self) -> None:
        if self._request_open and self._stream is not None:
            self._request_open = False
            self._stream.end()

    def _close_transport(self) -> None:
        self._request_open = False
        if self._stream is not None:
            self._stream.reset()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def _check_inactivity(self) -> None:
        """Half-closes the request after the inactivity timeout so the SDK suspends (PROTOCOL.md 4.2)."""
        if self.finished or not self._request_open:
            return
        idle = time.monotonic() - self._last_activity
        loop = asyncio.get_running_loop()
        if idle < self.inactivity_s:
            loop.call_later(self.inactivity_s - idle, self._check_inactivity)
            return
        self._end_request()
        loop.call_later(self.abort_s, self._check_abort)

    def _check_abort(self) -> None:
        if not self.finished:
            self.fail_with(AttemptError("the deployment did not finish within the abort timeout", 500))
