"""One invocation attempt as a sans-IO state machine: frames, ticks and entries in; frames, effects and timers out."""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

from restate.protocol import FrameDecoder, MessageType, ProtocolError, decode_message, is_command, pb
from restate.protocol.framing import Frame
from restate.protocol.messages import content_type, suspension_future

T = MessageType
_PROPOSE_RUN_COMPLETION = int(T.PROPOSE_RUN_COMPLETION)  # plain ints: compared for every frame
_AWAITING_ON = int(T.AWAITING_ON)
GiveUp = Literal["pause", "kill"]


class AttemptState(enum.Enum):
    """Where an attempt is; the last three are terminal for the deployment's side."""

    OPENING = "opening"  # waiting for the transport; entries from the partition are held back
    STREAMING = "streaming"  # bidi: request and response both open, the inactivity timer runs
    HALF_CLOSED = "half_closed"  # request closed (request/response, or bidi after inactivity): reading the answer
    FINISHED = "finished"  # End or Suspension reported; the response drains
    FAILED = "failed"  # a failure was reported: nothing more is reported
    KILLED = "killed"  # dropped without reporting anything


S = AttemptState
# Every move the machine can make; anything else is a bug in the machine (InvalidTransition).
TRANSITIONS: dict[AttemptState, frozenset[AttemptState]] = {
    S.OPENING: frozenset({S.STREAMING, S.HALF_CLOSED, S.FAILED, S.KILLED}),
    S.STREAMING: frozenset({S.HALF_CLOSED, S.FINISHED, S.FAILED, S.KILLED}),
    S.HALF_CLOSED: frozenset({S.FINISHED, S.FAILED, S.KILLED}),
    S.FINISHED: frozenset({S.FAILED, S.KILLED}),  # FAILED: the partition refused the End or Suspension
    S.FAILED: frozenset({S.KILLED}),
    S.KILLED: frozenset(),
}
# Module constants: reading a member off an Enum class costs ~50 ns on Python 3.11, and frames are hot.
_OPENING, _STREAMING, _HALF_CLOSED, _FINISHED, _FAILED, _KILLED = AttemptState
_REPORTED = (_FINISHED, _FAILED, _KILLED)  # the deployment's outcome is known: later frames are drained


class InvalidTransitionError(RuntimeError):
    """The machine tried a move that TRANSITIONS does not list."""


# --- outputs: what the shell must do (msgspec Structs without GC tracking: the cheapest objects to build,
# and one is built per frame)


class SendFrames(msgspec.Struct, gc=False):
    """Write these bytes to the request body."""

    data: bytes


class HalfCloseRequest(msgspec.Struct, gc=False):
    """End the request body (the SDK then suspends or finishes)."""


class CloseTransport(msgspec.Struct, gc=False):
    """Reset the stream / close the connection: nothing more is read or written."""


class ArmTimer(msgspec.Struct, gc=False):
    """Call notify_timer at monotonic time `at` (replaces the timer armed before)."""

    at: float


class CancelTimer(msgspec.Struct, gc=False):
    """Cancel the armed timer."""


# --- outputs: effects for the partition


class JournalMessage(msgspec.Struct, gc=False):
    """A command (or ProposeRunCompletion) the deployment sent, for the partition to apply."""

    msg_type: int
    flags: int
    payload: bytes


class Suspended(msgspec.Struct, gc=False):
    """The deployment suspended, waiting on `awaiting` (a serialized protocol Future)."""

    awaiting: bytes


class Ended(msgspec.Struct, gc=False):
    """The deployment sent End."""


class Failed(msgspec.Struct, gc=False):
    """The attempt failed. The retry hint and give-up come from the deployment's ErrorMessage, if any;
    the invoker's retry policy decides what happens next."""

    code: int
    message: str
    stacktrace: str | None = None
    retry_delay_ms: int | None = None
    give_up: GiveUp | None = None
    made_progress: bool = False  # the attempt sent at least one new command (resets the retry count)
    related_command: str | None = None  # "index 'name'" of the command an ErrorMessage blames


HALF_CLOSE = HalfCloseRequest()
CLOSE = CloseTransport()
CANCEL_TIMER = CancelTimer()
ENDED = Ended()
Effect = JournalMessage | Suspended | Ended | Failed
Output = SendFrames | HalfCloseRequest | CloseTransport | ArmTimer | CancelTimer | Effect


class AttemptMachine:
    """Decides everything about one attempt; the shell feeds it with notify_* and carries out take_outputs()."""

    __slots__ = (
        "_abort_at",
        "_decoder",
        "_expected_content_type",
        "_held",
        "_last_activity",
        "_outputs",
        "_timer_armed",
        "abort_s",
        "bidi",
        "inactivity_s",
        "made_progress",
        "next_index",
        "state",
        "version",
    )

    def __init__(
        self, *, known_entries: int, version: int, bidi: bool, inactivity_s: float = 60.0, abort_s: float = 600.0
    ) -> None:
        self.version = version
        self.bidi = bidi
        self.inactivity_s = inactivity_s
        self.abort_s = abort_s
        self.state = _OPENING
        self.next_index = known_entries  # entries below this were replayed: never forward them again
        self.made_progress = False
        self._expected_content_type = content_type(version)
        self._decoder = FrameDecoder()
        self._held: list[bytes] = []  # entries that arrived before the stream opened
        self._outputs: list[Output] = []
        self._last_activity = 0.0
        self._abort_at: float | None = None
        self._timer_armed = False

    @property
    def is_reported(self) -> bool:
        """True once the outcome (End, Suspension, a failure, or a kill) is known."""
        return self.state in _REPORTED

    def take_outputs(self) -> list[Output]:
        """Everything to do since the last call, in order."""
        outputs = self._outputs
        self._outputs = []
        return outputs

    # --- inputs from the transport

    def notify_opened(self, now: float) -> None:
        """The request is on its way (its StartMessage and replayed journal written by the shell)."""
        if self.state is not _OPENING:
            self._outputs.append(CLOSE)  # killed or refused while connecting
            return
        if not self.bidi:
            self._move(_HALF_CLOSED)  # request/response: the whole request was sent at once
            # A deployment that stops answering must not hold the attempt (and its slot and connection)
            # forever: as the real server, the abort timeout follows the inactivity timeout here too.
            self._last_activity = now
            self._arm(now + self.inactivity_s)
            return
        self._move(_STREAMING)
        out = self._outputs
        for frame in self._held:
            out.append(SendFrames(frame))
        self._held.clear()
        self._last_activity = now
        self._arm(now + self.inactivity_s)

    def notify_response_head(self, status: int, content_type: str | None) -> None:
        if self.state in _REPORTED or self._answered_too_early():
            return
        if not 200 <= status < 300:
            self._fail(status, f"the deployment answered with unexpected status code {status}", close=True)
        elif content_type != self._expected_content_type:
            self._fail(415, f"the deployment answered with unexpected content-type {content_type!r}", close=True)

    def notify_response_data(self, chunk: bytes, now: float) -> None:
        """A chunk of the response body: decodes its frames and reports them in order."""
        self._last_activity = now
        if self.state in _REPORTED or self._answered_too_early():
            return  # draining after the outcome
        try:
            for frame in self._decoder.push(chunk):
                t = frame.type
                if 0x0400 <= t <= 0x7FFF or is_command(t):
                    self.made_progress = True
                    self._outputs.append(JournalMessage(t, frame.flags, frame.payload))
                elif t == _PROPOSE_RUN_COMPLETION:
                    self._outputs.append(JournalMessage(t, frame.flags, frame.payload))
                elif t != _AWAITING_ON and self._on_control(frame):
                    return
        except ProtocolError as exc:
            self._fail(500, f"ProtocolError: {exc}", close=True)

    def notify_response_end(self) -> None:
        if self.state not in _REPORTED and not self._answered_too_early():
            self._fail(500, "the deployment closed the response without End, Suspension or Error", close=True)

    def notify_transport_error(self, exc: Exception) -> None:
        """The connection or stream failed (connect refused, reset, lost, timed out)."""
        if self.state not in _REPORTED:
            self._fail(500, f"{type(exc).__name__}: {exc}", close=True)

    def notify_crash(self, exc: BaseException) -> None:
        """An unexpected exception in the shell ended the attempt."""
        if self.state not in _REPORTED:
            self._fail(500, f"internal error: {exc!r}", close=True)

    # --- inputs from the partition and the clock

    def notify_entry(self, index: int, frame: bytes, now: float) -> bytes | None:
        """A journal entry (index >= 0) or a notification (index -1) for the deployment.

        Returns the bytes to write to the request now, or None. This is the only input that answers
        directly instead of through take_outputs: one entry is forwarded per committed command."""
        if index >= 0:
            if index < self.next_index:
                return None
            self.next_index = index + 1
        state = self.state
        if state is _STREAMING:
            self._last_activity = now
            return frame
        if state is _OPENING and self.bidi:
            self._last_activity = now
            self._held.append(frame)
        return None  # else the request is closed: the next attempt replays it from the journal

    def notify_timer(self, now: float) -> None:
        """The armed timer fired: half-close after inactivity, fail after the abort timeout."""
        self._timer_armed = False
        if self.state is _STREAMING:
            due = self._last_activity + self.inactivity_s
            if now < due:
                self._arm(due)
                return
            self._move(_HALF_CLOSED)
            self._outputs.append(HALF_CLOSE)  # the SDK suspends when its input ends (PROTOCOL.md 4.2)
            self._abort_at = now + self.abort_s
            self._arm(self._abort_at)
        elif self.state is _HALF_CLOSED and not self.bidi:
            self._request_response_timer(now)
        elif self.state is _HALF_CLOSED and self._abort_at is not None:
            if now < self._abort_at:
                self._arm(self._abort_at)
                return
            self._fail(500, "the deployment did not finish within the abort timeout", close=True)

    def _request_response_timer(self, now: float) -> None:
        """No response message for the inactivity timeout starts the abort timeout; a message resets both."""
        if self._abort_at is not None and self._last_activity > self._abort_at - self.abort_s:
            self._abort_at = None  # the deployment answered since the abort timeout started
        if self._abort_at is None:
            due = self._last_activity + self.inactivity_s
            if now < due:
                self._arm(due)
                return
            self._abort_at = now + self.abort_s
        if now < self._abort_at:
            self._arm(self._abort_at)
            return
        self._fail(500, "the deployment did not finish within the abort timeout", close=True)

    def notify_refused(self, reason: str) -> None:
        """The partition refused one of this attempt's effects: the attempt fails (even after End/Suspension)."""
        if self.state in (_FAILED, _KILLED):
            return
        self._fail(500, reason, close=True)

    def notify_killed(self) -> None:
        """The invocation was killed or paused: stop without reporting."""
        if self.state is not _KILLED:
            self._move(_KILLED)
            self._held.clear()
            self._cancel_timer()
            self._outputs.append(CLOSE)

    # --- internals

    def _answered_too_early(self) -> bool:
        """A response before notify_opened is the shell's bug: fail rather than guess."""
        if self.state is not _OPENING:
            return False
        self._fail(500, "internal error: a response arrived before the request was sent", close=True)
        return True

    def _on_control(self, frame: Frame) -> bool:
        """Suspension, End or Error; returns True when it ends the attempt (else a ProtocolError)."""
        t = frame.type
        if t == T.SUSPENSION:
            msg = decode_message(frame)
            assert isinstance(msg, pb.SuspensionMessage)
            future = suspension_future(msg, self.version)
            if not (future.waiting_completions or future.waiting_signals or future.waiting_named_signals):
                if not future.nested_futures:
                    raise ProtocolError("suspension without anything to wait for")
            self._finish(Suspended(future.SerializeToString()))
            return True
        if t == T.END:
            self._finish(ENDED)
            return True
        if t == T.ERROR:
            err = decode_message(frame)
            assert isinstance(err, pb.ErrorMessage)
            self._on_error_message(err)
            return True
        raise ProtocolError(f"unexpected message type 0x{t:04x} from the deployment")

    def _on_error_message(self, err: pb.ErrorMessage) -> None:
        give_up: GiveUp | None = None
        if err.behavior == pb.ErrorMessage.PAUSE:
            give_up = "pause"
        elif err.behavior == pb.ErrorMessage.FAIL:
            give_up = "kill"
        related = None
        if err.HasField("related_command_index"):
            related = f"{err.related_command_index} {err.related_command_name!r}"
        failed = Failed(
            err.code or 500,
            err.message,
            err.stacktrace or None,
            err.next_retry_delay if err.HasField("next_retry_delay") else None,
            give_up,
            self.made_progress,
            related,
        )
        self._report_failure(failed, close=False)  # the response drains like after End

    def _finish(self, effect: Suspended | Ended) -> None:
        request_open = self.state is _STREAMING
        self._move(_FINISHED)
        self._outputs.append(effect)
        self._cancel_timer()
        if request_open:
            self._outputs.append(HALF_CLOSE)

    def _fail(self, code: int, message: str, *, close: bool) -> None:
        self._report_failure(Failed(code, message, made_progress=self.made_progress), close=close)

    def _report_failure(self, failed: Failed, *, close: bool) -> None:
        request_open = self.state is _STREAMING
        self._move(_FAILED)
        self._held.clear()
        self._outputs.append(failed)
        self._cancel_timer()
        if close:
            self._outputs.append(CLOSE)
        elif request_open:
            self._outputs.append(HALF_CLOSE)

    def _move(self, to: AttemptState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise InvalidTransitionError(f"attempt cannot go from {self.state.value} to {to.value}")
        self.state = to

    def _arm(self, at: float) -> None:
        self._timer_armed = True
        self._outputs.append(ArmTimer(at))

    def _cancel_timer(self) -> None:
        if self._timer_armed:
            self._timer_armed = False
            self._outputs.append(CANCEL_TIMER)
