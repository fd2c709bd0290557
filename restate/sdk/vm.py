"""The sans-IO protocol VM: bytes in (notify_input), bytes out (take_output), user operations as sys_* calls.

Lifecycle: WAITING_START -> WAITING_ENTRIES (buffer the `known_entries` replayed entries) -> REPLAYING (user
code re-runs; each operation must match the next replayed command) -> PROCESSING (new commands are written)
-> CLOSED (End, Suspension or Error written). Errors are sticky: an ErrorMessage is written, the VM closes
and every later call raises the same VMFailure. No I/O, no clock: callers pass the time where needed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf.message import Message

from restate.protocol import (
    MESSAGE_CLASSES,
    FrameDecoder,
    MessageType,
    ProtocolError,
    encode_message,
    is_command,
    is_notification,
    parse_content_type,
    pb,
)
from restate.sdk.exceptions import VMFailure
from restate.sdk.vm_journal import EagerState, Journal, MismatchError
from restate.sdk.vm_results import CANCEL_KEY, AsyncResults, decode_result, notification_key
from restate.sdk.vm_sys import Syscalls
from restate.sdk.vm_types import (
    ANY_COMPLETED,
    CANCEL_SIGNALED,
    NOT_READY,
    SUSPENDED,
    WAIT_EXTERNAL,
    ExecuteRun,
    Invocation,
    Progress,
    UnresolvedFuture,
)

__all__ = ["SUPPORTED_VERSIONS", "VM"]

T = MessageType
SUPPORTED_VERSIONS = (5, 6, 7)

# states
WAITING_START, WAITING_ENTRIES, REPLAYING, PROCESSING, CLOSED = range(5)

JOURNAL_MISMATCH = 570
PROTOCOL_VIOLATION = 571
UNSUPPORTED_FEATURE = 573


class VM(Syscalls):
    """One invocation attempt of the service protocol V5-V7 (version from the request content type)."""

    def __init__(self, content_type: str | None) -> None:
        self.content_type = (content_type or "").strip()
        version = parse_content_type(self.content_type)
        self.version = version if version in SUPPORTED_VERSIONS else 0
        self.state = WAITING_START
        self.input_closed = False
        self.start: pb.StartMessage | None = None
        self.journal = Journal()
        self.results = AsyncResults()
        self.eager = EagerState((), True)
        self.failure: VMFailure | None = None
        self._decoder = FrameDecoder()
        self._out: list[bytes] = []
        self._remaining = 0
        self._runs_pending: set[int] = set()  # runs to execute once awaited
        self._runs_executing: set[int] = set()
        self._run_info: dict[int, tuple[int, str]] = {}  # handle -> (command index, name)
        self._proposals: dict[int, Any] = {}  # V7: proposed run results, kept until acked
        self._child_calls: list[int] = []  # invocation-id handles of calls, for implicit cancellation
        self._child_ids: dict[int, str] = {}

    # --- response head -------------------------------------------------------------------------

    def response_head(self) -> tuple[int, list[tuple[str, str]]]:
        """Status and headers of the HTTP response: 200 with the request's content type, or 415."""
        if not self.version:
            return 415, [("content-type", "text/plain")]
        return 200, [("content-type", self.content_type)]

    # --- input ---------------------------------------------------------------------------------

    def notify_input(self, data: bytes) -> None:
        """Feed request body bytes (any chunking)."""
        if self.state == CLOSED or not data:
            return
        try:
            frames = self._decoder.push(data)
        except ProtocolError as e:
            self._fail_quietly(PROTOCOL_VIOLATION, str(e))
            return
        for frame in frames:
            if self.state == CLOSED:
                return
            self._on_frame(frame.type, frame.payload)

    def notify_input_closed(self) -> None:
        """The request body ended: nothing more will arrive (suspend instead of waiting)."""
        self.input_closed = True
        if self.state in (WAITING_START, WAITING_ENTRIES):
            self._fail_quietly(PROTOCOL_VIOLATION, "input closed before the replayed journal was complete")

    def _on_frame(self, msg_type: int, payload: bytes) -> None:
        try:
            if self.state == WAITING_START:
                self._on_start(msg_type, payload)
            elif is_notification(msg_type):
                msg = pb.NotificationTemplate.FromString(payload)
                self.results.enqueue(notification_key(msg), decode_result(msg))
                self._count_replayed()
            elif msg_type == T.PROPOSE_RUN_COMPLETION_ACK and self.state != WAITING_ENTRIES:
                self._on_ack(pb.ProposeRunCompletionAckMessage.FromString(payload).completion_id)
            elif is_command(msg_type) and self.state == WAITING_ENTRIES:
                self.journal.replay.append((msg_type, _decode_command(msg_type, payload)))
                self._count_replayed()
            elif msg_type != T.COMMAND_ACK:
                raise ProtocolError(f"unexpected message 0x{msg_type:04x} in state {self.state}")
        except (ProtocolError, ValueError) as e:
            self._fail_quietly(PROTOCOL_VIOLATION, str(e))

    def _on_start(self, msg_type: int, payload: bytes) -> None:
        if msg_type != T.START:
            raise ProtocolError(f"expected StartMessage, got 0x{msg_type:04x}")
        start = self.start = pb.StartMessage.FromString(payload)
        if start.known_entries < 1:
            raise ProtocolError("StartMessage.known_entries must be at least 1 (the input)")
        self.eager = EagerState(start.state_map, start.partial_state)
        self._remaining = start.known_entries
        self.state = WAITING_ENTRIES

    def _count_replayed(self) -> None:
        if self.state != WAITING_ENTRIES:
            return
        self._remaining -= 1
        if self._remaining == 0:
            replay = self.journal.replay
            if not replay or replay[0][0] != T.INPUT:
                raise ProtocolError("the replayed journal must start with the InputCommand")
            self.state = REPLAYING

    def _on_ack(self, completion_id: int) -> None:
        if completion_id not in self._proposals:
            raise ProtocolError(f"ProposeRunCompletionAck for unknown completion {completion_id}")
        self.results.enqueue(completion_id, self._proposals.pop(completion_id))

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

    # --- predicates ----------------------------------------------------------------------------

    def is_ready_to_execute(self) -> bool:
        """True once the whole replayed journal arrived (user code may run)."""
        return self.state in (REPLAYING, PROCESSING)

    def is_replaying(self) -> bool:
        """True while user code re-executes journaled commands."""
        return self.state == REPLAYING

    def is_processing(self) -> bool:
        """True once replay is over and new commands are being written."""
        return self.state == PROCESSING

    def is_closed(self) -> bool:
        """True after End, Suspension or Error."""
        return self.state == CLOSED

    def is_completed(self, handle: int) -> bool:
        """True when `handle` has a result that was not taken yet."""
        return self.results.is_completed(handle)

    # --- errors --------------------------------------------------------------------------------

    def notify_error(self, message: str, stacktrace: str = "", delay_ms: int | None = None, code: int = 500) -> None:
        """User code failed with a retryable error: write ErrorMessage and close (no-op once closed)."""
        if self.state == CLOSED:
            return
        self._error_message(code, message, stacktrace, None, delay_ms)

    def _error_message(
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
        self.state = CLOSED

    def _fail(self, code: int, message: str, related: tuple[int, str, int] | None = None, **kw: Any) -> VMFailure:
        """Write an ErrorMessage, close, and return the sticky failure (callers raise it)."""
        if self.state != CLOSED:
            self._error_message(code, message, kw.get("stacktrace", ""), related, kw.get("delay_ms"))
        self.failure = VMFailure(code, message)
        return self.failure

    def _fail_quietly(self, code: int, message: str) -> None:
        self._fail(code, message)

    def _end(self) -> None:
        self.state = CLOSED

    def _check_open(self) -> None:
        if self.state in (REPLAYING, PROCESSING):
            return
        if self.failure is not None:
            raise self.failure
        if self.state == CLOSED:
            raise VMFailure(PROTOCOL_VIOLATION, "the invocation attempt is over (suspended or ended)")
        raise VMFailure(PROTOCOL_VIOLATION, "the replayed journal was not received yet")

    # --- commands (used by Syscalls) -----------------------------------------------------------

    def _command(self, msg_type: int, msg: Message, flags: int = 0) -> Message:
        """Write `msg` (processing) or match it against the next replayed command; returns the journaled one."""
        self._check_open()
        journal = self.journal
        if self.state == REPLAYING:
            try:
                old = journal.match(msg_type, msg)
            except MismatchError as e:
                raise self._mismatch(e, msg_type, msg) from None
            if not journal.replay:
                self.state = PROCESSING
            return old
        journal.command_index += 1
        journal.written += 1
        self._write(msg_type, msg, flags)
        return msg

    def _replay_pop(self, expected: tuple[int, ...], msg_type: int, msg: Message) -> tuple[int, Message]:
        """Take the next replayed command, of one of the `expected` types (state reads accept eager or lazy)."""
        try:
            found = self.journal.pop(expected, msg_type, msg)
        except MismatchError as e:
            raise self._mismatch(e, msg_type, msg) from None
        if not self.journal.replay:
            self.state = PROCESSING
        return found

    def _mismatch(self, e: MismatchError, msg_type: int, msg: Message) -> VMFailure:
        return self._fail(JOURNAL_MISMATCH, str(e), (e.index, getattr(msg, "name", ""), msg_type))

    def _require(self, feature: str, version: int) -> None:
        if self.version < version:
            raise self._fail(UNSUPPORTED_FEATURE, f"{feature} needs protocol V{version}, negotiated V{self.version}")

    # --- input command -------------------------------------------------------------------------

    def sys_input(self) -> Invocation:
        """Replay the InputCommand: the invocation id, key, headers and input bytes."""
        self._check_open()
        assert self.start is not None
        _, msg = self._replay_pop((T.INPUT,), T.INPUT, pb.InputCommandMessage())
        start = self.start
        seed = start.random_seed if self.version >= 6 else 0
        if not seed:
            seed = int.from_bytes(hashlib.sha256(start.id).digest()[:8], "big")
        return Invocation(
            invocation_id=start.debug_id,
            random_seed=seed,
            headers=[(h.key, h.value) for h in msg.headers],  # type: ignore[attr-defined]
            input_buffer=msg.value.content,  # type: ignore[attr-defined]
            key=start.key,
            scope=start.scope if start.HasField("scope") else None,
            limit_key=start.limit_key if start.HasField("limit_key") else None,
            idempotency_key=start.idempotency_key if start.HasField("idempotency_key") else None,
        )

    # --- async results -------------------------------------------------------------------------

    def do_progress(self, fut: UnresolvedFuture) -> Progress:
        """What to do for user code awaiting `fut`: resume, run a closure, wait for input, or stop."""
        self._check_open()
        results = self.results
        ready = results.ready
        while True:
            if CANCEL_KEY in ready:
                return self._on_cancel()
            if results.resolves(fut):
                return ANY_COMPLETED
            if not results.advance():
                break
        leaves = results.leaves(fut)
        for handle in leaves:
            if handle in self._runs_pending:
                self._runs_pending.discard(handle)
                self._runs_executing.add(handle)
                return ExecuteRun(handle)
        if not self.input_closed or any(h in self._runs_executing for h in leaves):
            return WAIT_EXTERNAL
        self._write(T.SUSPENSION, results.suspension(fut, self.version))
        self.state = CLOSED
        return SUSPENDED

    def _on_cancel(self) -> Progress:
        """Take the CANCEL signal (it fires once) and cancel the child calls whose ids are known."""
        del self.results.ready[CANCEL_KEY]
        for handle in self._child_calls:
            inv_id = self._child_ids.get(handle) or self.results.ready.get(self.results.handles[handle])
            if isinstance(inv_id, str):
                self.sys_cancel(inv_id)
        self._child_calls.clear()
        return CANCEL_SIGNALED

    def take_notification(self, handle: int) -> Any:
        """The result of `handle` (None, bytes, Failure, str, list[str]) and forget it; NOT_READY or SUSPENDED."""
        found, result = self.results.take(handle)
        if found:
            if handle in self._child_ids or handle in self._child_calls:
                self._child_ids[handle] = result
            return result
        if self.failure is not None:
            raise self.failure
        return SUSPENDED if self.state == CLOSED else NOT_READY


def _decode_command(msg_type: int, payload: bytes) -> Message:
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise ProtocolError(f"unknown command type 0x{msg_type:04x} in the replayed journal")
    return cls.FromString(payload)

