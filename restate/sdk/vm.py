"""The sans-IO protocol VM: bytes in (notify_input), bytes out (take_output), user operations as sys_* calls.

Lifecycle (vm_state.py holds the states, the events and the one transition table): WAITING_START ->
WAITING_REPLAY_ENTRIES (buffer the `known_entries` replayed entries) -> REPLAYING (user code re-runs; each
operation must match the next replayed command) -> PROCESSING (new commands are written) -> SUSPENDED, ENDED
or FAILED (Suspension, End or Error written). A VM failure is sticky: an ErrorMessage is written and every
later call raises the same VMFailure. No I/O, no clock: callers pass the time where needed.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from restate.protocol import (
    MESSAGE_CLASSES,
    MessageType,
    ProtocolError,
    is_command,
    is_notification,
    pb,
)
from restate.sdk.vm_core import PROTOCOL_VIOLATION, SUPPORTED_VERSIONS
from restate.sdk.vm_journal import EagerState
from restate.sdk.vm_results import CANCEL_KEY, decode_result, notification_key
from restate.sdk.vm_state import TERMINAL_STATES, VMEvent, VMState
from restate.sdk.vm_sys import Syscalls
from restate.sdk.vm_types import (
    ANY_COMPLETED,
    CANCEL_SIGNALED,
    NOT_READY,
    SUSPENDED,
    WAIT_EXTERNAL,
    ExecuteRun,
    Progress,
    UnresolvedFuture,
)

__all__ = ["SUPPORTED_VERSIONS", "VM"]

T = MessageType
# Module constants: reading a member off an Enum class costs ~50 ns, and these are compared for every frame.
_WAITING_START, _WAITING_REPLAY_ENTRIES = VMState.WAITING_START, VMState.WAITING_REPLAY_ENTRIES
_RUN_ACK, _COMMAND_ACK = int(T.PROPOSE_RUN_COMPLETION_ACK), int(T.COMMAND_ACK)


class VM(Syscalls):
    """One invocation attempt of the service protocol V5-V7 (version from the request content type)."""

    # --- response head -------------------------------------------------------------------------

    def response_head(self) -> tuple[int, list[tuple[str, str]]]:
        """Status and headers of the HTTP response: 200 with the request's content type, or 415."""
        if not self.version:
            return 415, [("content-type", "text/plain")]
        return 200, [("content-type", self.content_type)]

    # --- input ---------------------------------------------------------------------------------

    def notify_input(self, data: bytes) -> None:
        """Feed request body bytes (any chunking); ignored once the attempt is over."""
        if self._state in TERMINAL_STATES or not data:
            return
        try:
            frames = self._decoder.push(data)
        except ProtocolError as e:
            self._fail(PROTOCOL_VIOLATION, str(e))
            return
        for frame in frames:
            if self._state in TERMINAL_STATES:
                return
            self._on_frame(frame.type, frame.payload)

    def notify_input_closed(self) -> None:
        """The request body ended: nothing more will arrive (suspend instead of waiting)."""
        self.input_closed = True
        if self._state is _WAITING_START or self._state is _WAITING_REPLAY_ENTRIES:
            self._fail(PROTOCOL_VIOLATION, "input closed before the replayed journal was complete")

    def _on_frame(self, msg_type: int, payload: bytes) -> None:
        state = self._state
        try:
            if state is _WAITING_START:
                self._on_start(msg_type, payload)
            elif is_notification(msg_type):
                msg = pb.NotificationTemplate.FromString(payload)
                self.results.enqueue(notification_key(msg), decode_result(msg))
                self._count_replay_entry()
            elif msg_type == _RUN_ACK and state is not _WAITING_REPLAY_ENTRIES:
                self._on_run_ack(pb.ProposeRunCompletionAckMessage.FromString(payload).completion_id)
            elif is_command(msg_type) and state is _WAITING_REPLAY_ENTRIES:
                self.journal.replay.append((msg_type, _decode_command(msg_type, payload)))
                self._count_replay_entry()
            elif msg_type != _COMMAND_ACK:
                raise ProtocolError(f"unexpected message 0x{msg_type:04x} in state {state.name}")
        except (ProtocolError, ValueError) as e:
            self._fail(PROTOCOL_VIOLATION, str(e))

    def _on_start(self, msg_type: int, payload: bytes) -> None:
        if msg_type != T.START:
            raise ProtocolError(f"expected StartMessage, got 0x{msg_type:04x}")
        start = self.start = pb.StartMessage.FromString(payload)
        if start.known_entries < 1:
            raise ProtocolError("StartMessage.known_entries must be at least 1 (the input)")
        self.eager = EagerState(start.state_map, start.partial_state)
        self._replay_entries_missing = start.known_entries
        self._move(VMEvent.START_RECEIVED)

    def _count_replay_entry(self) -> None:
        """One replayed entry arrived (live notifications after the replay count for nothing)."""
        if self._state is not _WAITING_REPLAY_ENTRIES:
            return
        self._replay_entries_missing -= 1
        if self._replay_entries_missing == 0:
            replay = self.journal.replay
            if not replay or replay[0][0] != T.INPUT:
                raise ProtocolError("the replayed journal must start with the InputCommand")
            self._move(VMEvent.REPLAY_RECEIVED)

    # --- async results -------------------------------------------------------------------------

    def is_completed(self, handle: int) -> bool:
        """True when `handle` has a result that was not taken yet."""
        return self.results.is_completed(handle)

    def do_progress(self, fut: UnresolvedFuture) -> Progress:
        """What to do for user code awaiting `fut`: resume, run a closure, wait for input, or stop."""
        self._check_open()
        results = self.results
        ready = results.ready
        while True:
            if CANCEL_KEY in ready:
                del ready[CANCEL_KEY]  # the CANCEL signal fires once
                self._cancel_child_calls()
                return CANCEL_SIGNALED
            if results.resolves(fut):
                return ANY_COMPLETED
            if not results.advance():
                break
        awaited = results.leaves(fut)
        run = self._take_run_to_execute(awaited)
        if run is not None:
            return ExecuteRun(run)
        if not self.input_closed or self._awaits_executing_run(awaited):
            return WAIT_EXTERNAL
        self._write(T.SUSPENSION, results.suspension(fut, self.version))
        self._move(VMEvent.SUSPENSION_WRITTEN)
        return SUSPENDED

    def take_notification(self, handle: int) -> Any:
        """The result of `handle` (None, bytes, Failure, str, list[str]) and forget it; NOT_READY or SUSPENDED."""
        found, result = self.results.take(handle)
        if found:
            if handle in self._child_call_ids or handle in self._child_calls:
                self._child_call_ids[handle] = result  # a child call's id: kept to cancel it with this invocation
            return result
        if self.failure is not None:
            raise self.failure
        return SUSPENDED if self._state in TERMINAL_STATES else NOT_READY


def _decode_command(msg_type: int, payload: bytes) -> Message:
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise ProtocolError(f"unknown command type 0x{msg_type:04x} in the replayed journal")
    return cls.FromString(payload)
