"""The VM's core: every attribute of the VM (declared here, once), its one state-changing method, commands, failures.

The VM is built in layers, each a subclass of the one before that adds operations (never attributes):
VMCore (state, output, commands, failures) <- RunOperations (vm_run.py: ctx.run) <- Syscalls (vm_sys.py:
the other user operations) <- VM (vm.py: input frames, progress, notifications).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from restate.protocol import FrameDecoder, MessageType, encode_message, parse_content_type, pb
from restate.sdk.exceptions import VMFailure
from restate.sdk.vm_journal import EagerState, Journal, MismatchError
from restate.sdk.vm_results import AsyncResults
from restate.sdk.vm_state import TERMINAL_STATES, TRANSITIONS, IllegalTransitionError, VMEvent, VMState

__all__ = ["JOURNAL_MISMATCH", "PROTOCOL_VIOLATION", "SUPPORTED_VERSIONS", "UNSUPPORTED_FEATURE", "VMCore"]

T = MessageType
SUPPORTED_VERSIONS = (5, 6, 7)

JOURNAL_MISMATCH = 570
PROTOCOL_VIOLATION = 571
UNSUPPORTED_FEATURE = 573

# Module constants: reading a member off an Enum class costs ~50 ns, and every command checks the state.
_REPLAYING, _PROCESSING = VMState.REPLAYING, VMState.PROCESSING
_REPLAY_CONSUMED, _ERROR_WRITTEN = VMEvent.REPLAY_CONSUMED, VMEvent.ERROR_WRITTEN


class VMCore:
    """One invocation attempt's protocol state, and the primitives every user operation is built from."""

    def __init__(self, content_type: str | None) -> None:
        self.content_type = (content_type or "").strip()
        version = parse_content_type(self.content_type)
        self.version = version if version in SUPPORTED_VERSIONS else 0
        self._state = VMState.WAITING_START  # changed only by _move
        self.input_closed = False
        self.start: pb.StartMessage | None = None
        self.journal = Journal()
        self.results = AsyncResults()
        self.eager = EagerState((), True)
        self.failure: VMFailure | None = None  # sticky: raised by every operation once set
        self._decoder = FrameDecoder()
        self._replay_entries_missing = 0  # replayed entries (commands and notifications) still to receive
        self._out: list[bytes] = []
        # ctx.run (vm_run.py)
        self._runs_to_execute: set[int] = set()  # registered and not replayed: executed once awaited
        self._runs_executing: set[int] = set()
        self._run_commands: dict[int, tuple[int, str]] = {}  # handle -> (index, name) of its RunCommand
        self._run_proposals: dict[int, Any] = {}  # V7: proposed results by completion id, kept until acked
        # calls (vm_sys.py): cancelled with this invocation
        self._child_calls: list[int] = []  # the invocation-id handles of calls
        self._child_call_ids: dict[int, str] = {}  # invocation-id handle -> the id, once taken by user code

    # --- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> VMState:
        """Where the attempt is (read-only: events change it)."""
        return self._state

    def _move(self, event: VMEvent) -> None:
        """The one place the state changes: IllegalTransitionError for a move the table does not list."""
        try:  # next_state, inlined: a few moves per invocation
            self._state = TRANSITIONS[(self._state, event)]
        except KeyError:
            raise IllegalTransitionError(self._state, event) from None

    def is_ready_to_execute(self) -> bool:
        """True once the whole replayed journal arrived (user code may run)."""
        state = self._state
        return state is _REPLAYING or state is _PROCESSING

    def is_replaying(self) -> bool:
        """True while user code re-executes journaled commands."""
        return self._state is _REPLAYING

    def is_processing(self) -> bool:
        """True once replay is over and new commands are being written."""
        return self._state is _PROCESSING

    def is_closed(self) -> bool:
        """True after End, Suspension or Error."""
        return self._state in TERMINAL_STATES

    def _check_open(self) -> None:
        """Raise unless user operations are accepted now (REPLAYING or PROCESSING)."""
        state = self._state
        if state is not _REPLAYING and state is not _PROCESSING:
            raise self._not_open_error()

    def _not_open_error(self) -> VMFailure:
        """Why user operations are refused in this state: the sticky failure if any, else the state."""
        if self.failure is not None:
            return self.failure
        if self._state in TERMINAL_STATES:
            return VMFailure(PROTOCOL_VIOLATION, f"the invocation attempt is over ({self._state.value})")
        return VMFailure(PROTOCOL_VIOLATION, "the replayed journal was not received yet")

    # --- output --------------------------------------------------------------------------------

    def take_output(self) -> bytes:
        """The bytes written since the last call (b"" if none)."""
        out = self._out
        if not out:
            return b""
        data = b"".join(out) if len(out) > 1 else out[0]
        out.clear()
        return data

    def _write(self, msg_type: int, msg: Message, flags: int = 0) -> None:
        self._out.append(encode_message(msg, flags, msg_type))

    # --- commands ------------------------------------------------------------------------------

    def _command(self, msg_type: int, msg: Message, flags: int = 0) -> Message:
        """Write `msg` (processing) or match it against the next replayed command; returns the journaled one."""
        state = self._state
        journal = self.journal
        if state is _PROCESSING:
            journal.command_index += 1
            journal.written += 1
            self._write(msg_type, msg, flags)
            return msg
        if state is not _REPLAYING:
            raise self._not_open_error()
        try:
            old = journal.match(msg_type, msg)
        except MismatchError as e:
            raise self._mismatch(e, msg_type, msg) from None
        if not journal.replay:
            self._move(_REPLAY_CONSUMED)
        return old

    def _replay_pop(self, expected: tuple[int, ...], msg_type: int, msg: Message) -> tuple[int, Message]:
        """Take the next replayed command, of one of the `expected` types (state reads accept eager or lazy)."""
        try:
            found = self.journal.pop(expected, msg_type, msg)
        except MismatchError as e:
            raise self._mismatch(e, msg_type, msg) from None
        if not self.journal.replay:
            self._move(_REPLAY_CONSUMED)
        return found

    # --- failures ------------------------------------------------------------------------------

    def notify_error(self, message: str, stacktrace: str = "", delay_ms: int | None = None, code: int = 500) -> None:
        """User code failed with a retryable error: write ErrorMessage and close (no-op once closed)."""
        if self._state in TERMINAL_STATES:
            return
        self._write_error(code, message, stacktrace, None, delay_ms)

    def _write_error(
        self,
        code: int,
        message: str,
        stacktrace: str = "",
        related: tuple[int, str, int] | None = None,
        delay_ms: int | None = None,
    ) -> None:
        err = pb.ErrorMessage(code=code, message=message, stacktrace=stacktrace)
        if related is not None:
            err.related_command_index, err.related_command_name, err.related_command_type = related
        if delay_ms is not None:
            err.next_retry_delay = delay_ms
        self._write(T.ERROR, err)
        self._move(_ERROR_WRITTEN)

    def _fail(
        self,
        code: int,
        message: str,
        related: tuple[int, str, int] | None = None,
        stacktrace: str = "",
        delay_ms: int | None = None,
    ) -> VMFailure:
        """Write an ErrorMessage (unless closed already), and return the sticky failure (callers raise it)."""
        if self._state not in TERMINAL_STATES:
            self._write_error(code, message, stacktrace, related, delay_ms)
        self.failure = VMFailure(code, message)
        return self.failure

    def _mismatch(self, e: MismatchError, msg_type: int, msg: Message) -> VMFailure:
        return self._fail(JOURNAL_MISMATCH, str(e), (e.index, getattr(msg, "name", ""), msg_type))

    def _require(self, feature: str, version: int) -> None:
        if self.version < version:
            raise self._fail(UNSUPPORTED_FEATURE, f"{feature} needs protocol V{version}, negotiated V{self.version}")
