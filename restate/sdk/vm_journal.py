"""Journal bookkeeping of the VM: replay matching (non-determinism checks), id allocation and the eager state view."""

from __future__ import annotations

from collections import deque
from typing import Any

from google.protobuf.message import Message

from restate.protocol import MessageType

__all__ = ["COMMAND_NAMES", "EagerState", "Journal", "MismatchError", "command_equal", "mismatch_message"]

T = MessageType

#: How commands are named in mismatch messages.
COMMAND_NAMES: dict[int, str] = {
    T.INPUT: "input",
    T.OUTPUT: "output",
    T.GET_LAZY_STATE: "get state",
    T.GET_EAGER_STATE: "get state",
    T.SET_STATE: "set state",
    T.CLEAR_STATE: "clear state",
    T.CLEAR_ALL_STATE: "clear all state",
    T.GET_LAZY_STATE_KEYS: "get state keys",
    T.GET_EAGER_STATE_KEYS: "get state keys",
    T.GET_PROMISE: "get promise",
    T.PEEK_PROMISE: "peek promise",
    T.COMPLETE_PROMISE: "complete promise",
    T.SLEEP: "sleep",
    T.CALL: "call",
    T.ONE_WAY_CALL: "one way call",
    T.SEND_SIGNAL: "send signal",
    T.RUN: "run",
    T.ATTACH_INVOCATION: "attach invocation",
    T.GET_INVOCATION_OUTPUT: "get invocation output",
    T.COMPLETE_AWAKEABLE: "complete awakeable",
}


class MismatchError(Exception):
    """A replayed command differs from what the handler does now (journal mismatch, code 570)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def command_equal(msg_type: int, old: Message, new: Message) -> bool:
    """Whether a replayed command matches the new one (times of sleeps and delayed sends are not compared)."""
    if msg_type == T.SLEEP:
        return old.name == new.name  # type: ignore[attr-defined,no-any-return]
    if msg_type == T.ONE_WAY_CALL:
        new.invoke_time = old.invoke_time  # type: ignore[attr-defined]
    elif msg_type == T.OUTPUT:
        return True  # the output of a replayed attempt is recorded, not recomputed
    return old == new


def _describe(msg_type: int, msg: Message | None) -> str:
    name = COMMAND_NAMES.get(msg_type, f"0x{msg_type:04x}")
    label = getattr(msg, "name", "") if msg is not None else ""
    return f"{name} '{label}'" if label else name


def mismatch_message(index: int, old_type: int, old: Message | None, new_type: int, new: Message) -> str:
    """The 570 message, in the shape the official SDK uses."""
    if old_type == new_type:
        current = f"'{_describe(new_type, new)}' with different parameters: {str(new).strip() or '{}'}"
        recorded = f"'{_describe(old_type, old)}' (index '{index}'): {str(old).strip() or '{}'}"
    else:
        current = f"'{COMMAND_NAMES.get(new_type, hex(new_type))}'"
        recorded = f"'{COMMAND_NAMES.get(old_type, hex(old_type))}' (index '{index}')"
    return (
        "Found a mismatch between the code paths taken during the previous execution and the paths taken during "
        "this execution.\nThis typically happens when some parts of the code are non-deterministic.\n"
        f" - The previous execution ran and recorded the following: {recorded}\n"
        f" - The current execution attempts to perform the following: {current}"
    )


class Journal:
    """Commands still to replay, the command index and the completion/signal id counters."""

    __slots__ = ("command_index", "next_completion_id", "next_signal_idx", "replay", "written")

    def __init__(self) -> None:
        self.replay: deque[tuple[int, Message]] = deque()
        self.command_index = -1  # index of the last command matched or written (Input is 0)
        self.next_completion_id = 1
        self.next_signal_idx = 17
        self.written = 0  # commands written in this attempt

    def completion_id(self) -> int:
        """Allocate the next completion id."""
        cid = self.next_completion_id
        self.next_completion_id = cid + 1
        return cid

    def signal_idx(self) -> int:
        """Allocate the next awakeable signal index (17, 18, ...)."""
        idx = self.next_signal_idx
        self.next_signal_idx = idx + 1
        return idx

    def peek_type(self) -> int:
        """Type of the next command to replay."""
        return self.replay[0][0]

    def pop(self, expected: tuple[int, ...], new_type: int, new: Message) -> tuple[int, Message]:
        """Take the next replayed command; MismatchError unless its type is in `expected`."""
        old_type, old = self.replay.popleft()
        self.command_index += 1
        if old_type not in expected:
            raise MismatchError(self.command_index, mismatch_message(self.command_index, old_type, old, new_type, new))
        return old_type, old

    def match(self, msg_type: int, new: Message) -> Message:
        """Take the next replayed command and check it against `new`."""
        old_type, old = self.pop((msg_type,), msg_type, new)
        if not command_equal(msg_type, old, new):
            raise MismatchError(self.command_index, mismatch_message(self.command_index, old_type, old, msg_type, new))
        return old


_ABSENT = object()


class EagerState:
    """The state the VM knows locally: StartMessage.state_map, updated by set/clear/clear_all.

    With a complete map (`partial_state` false), a missing key is known to be absent.
    """

    __slots__ = ("complete", "values")

    def __init__(self, entries: Any, partial: bool) -> None:
        self.values: dict[str, Any] = {e.key.decode("utf-8"): e.value for e in entries}
        self.complete = not partial

    def get(self, key: str) -> tuple[bool, bytes | None]:
        """(known, value): value None means absent; known False means ask the server."""
        value = self.values.get(key, _ABSENT)
        if value is _ABSENT:
            return self.complete, None
        return True, value

    def set(self, key: str, value: bytes) -> None:
        """A SetState."""
        self.values[key] = value

    def clear(self, key: str) -> None:
        """A ClearState: the key is known to be absent."""
        self.values[key] = None

    def clear_all(self) -> None:
        """A ClearAllState: the map becomes complete and empty."""
        self.values.clear()
        self.complete = True

    def keys(self) -> list[str] | None:
        """The sorted keys if the map is complete, else None (ask the server).

        A key cleared in this invocation is still listed: the official SDKs' shared core keeps it in the
        map as known-empty and lists every key of the map, so both official SDKs return it too.
        """
        if not self.complete:
            return None
        return sorted(self.values)
