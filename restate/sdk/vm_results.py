"""Async results of the VM: notification handles, the in-order notification queue, await-tree resolution, suspension."""

from __future__ import annotations

from collections import deque
from typing import Any

from restate.protocol import pb
from restate.sdk.vm_types import (
    CANCEL_HANDLE,
    AllCompleted,
    Failure,
    FirstCompleted,
    NotificationKey,
    UnresolvedFuture,
)

__all__ = ["CANCEL_KEY", "AsyncResults", "decode_result"]

#: The notification key of the CANCEL signal (signal index 1).
CANCEL_KEY = -1
_FIRST_USER_HANDLE = 17


def decode_result(msg: Any) -> Any:
    """The result of a notification message: None (void), bytes, Failure, str (invocation id) or list[str] (keys)."""
    which = msg.WhichOneof("result")
    if which == "value":
        return msg.value.content
    if which == "void":
        return None
    if which == "failure":
        f = msg.failure
        return Failure(f.code, f.message, metadata={m.key: m.value for m in f.metadata} or None)
    if which == "invocation_id":
        return msg.invocation_id
    if which == "state_keys":
        return [k.decode("utf-8") for k in msg.state_keys.keys]
    return None


def notification_key(msg: Any) -> NotificationKey:
    """completion id n -> n, signal index n -> -n, signal name -> the name."""
    which = msg.WhichOneof("id")
    if which == "completion_id":
        return int(msg.completion_id)
    if which == "signal_id":
        return -int(msg.signal_id)
    return str(msg.signal_name)


class AsyncResults:
    """Handles and notifications.

    Notifications (replayed or live) enter `pending` in journal order and are moved to `ready` one at a
    time, only while an awaited future cannot be resolved yet. So a replay reveals notifications in the
    order the live execution saw them, and combinators (select, wait_completed) decide the same way.
    """

    __slots__ = ("handles", "known", "next_handle", "pending", "ready")

    def __init__(self) -> None:
        self.pending: deque[tuple[NotificationKey, Any]] = deque()
        self.ready: dict[NotificationKey, Any] = {}
        self.known: set[NotificationKey] = set()
        self.handles: dict[int, NotificationKey] = {CANCEL_HANDLE: CANCEL_KEY}
        self.next_handle = _FIRST_USER_HANDLE

    # --- handles -------------------------------------------------------------------------------

    def new_handle(self, key: NotificationKey) -> int:
        """A fresh handle for notification `key`."""
        handle = self.next_handle
        self.next_handle = handle + 1
        self.handles[handle] = key
        return handle

    def ready_handle(self, key: NotificationKey, result: Any) -> int:
        """A fresh handle whose result is already known (eager state, for instance)."""
        self.ready[key] = result
        self.known.add(key)
        return self.new_handle(key)

    def is_completed(self, handle: int) -> bool:
        """True when the handle has a result that was not taken yet."""
        return self.handles[handle] in self.ready

    # --- notifications -------------------------------------------------------------------------

    def enqueue(self, key: NotificationKey, result: Any) -> None:
        """A notification arrived (replay or live)."""
        self.pending.append((key, result))
        self.known.add(key)

    def advance(self) -> bool:
        """Reveal the next pending notification; False when there is none."""
        if not self.pending:
            return False
        key, result = self.pending.popleft()
        self.ready[key] = result
        return True

    def take(self, handle: int) -> tuple[bool, Any]:
        """(True, result) and forget it, or (False, None) if the handle has no result yet."""
        key = self.handles[handle]
        if key in self.ready:
            return True, self.ready.pop(key)
        return False, None

    # --- await trees ---------------------------------------------------------------------------

    def resolves(self, fut: UnresolvedFuture) -> bool:
        """Whether `fut` can complete with the notifications revealed so far."""
        if type(fut) is int:
            return self.handles[fut] in self.ready
        if type(fut) is FirstCompleted:
            return any(self.resolves(c) for c in fut.children)
        return all(self.resolves(c) for c in fut.children)  # type: ignore[union-attr]

    def leaves(self, fut: UnresolvedFuture) -> list[int]:
        """Every handle in `fut`."""
        if type(fut) is int:
            return [fut]
        return [h for c in fut.children for h in self.leaves(c)]  # type: ignore[union-attr]

    def suspension(self, fut: UnresolvedFuture, version: int) -> pb.SuspensionMessage:
        """The Suspension for awaiting `fut` (or the CANCEL signal): flat lists before V7, a Future tree from V7."""
        if version < 7:
            root = pb.Future()
            for h in self.leaves(fut):
                self._add_leaf(root, h)
            self._add_leaf(root, CANCEL_HANDLE)
            return pb.SuspensionMessage(
                waiting_completions=sorted(set(root.waiting_completions)),
                waiting_signals=sorted(set(root.waiting_signals)),
                waiting_named_signals=sorted(set(root.waiting_named_signals)),
            )
        root = pb.Future(combinator_type=pb.Future.FIRST_COMPLETED)
        self._add_leaf(root, CANCEL_HANDLE)
        if type(fut) is int:
            self._add_leaf(root, fut)
        else:
            root.nested_futures.append(self._tree(fut))  # type: ignore[arg-type]
        return pb.SuspensionMessage(awaiting_on=root)

    def _tree(self, fut: FirstCompleted | AllCompleted) -> pb.Future:
        combinator = pb.Future.FIRST_COMPLETED if type(fut) is FirstCompleted else pb.Future.ALL_COMPLETED
        node = pb.Future(combinator_type=combinator)
        for child in fut.children:
            if type(child) is int:
                self._add_leaf(node, child)
            else:
                node.nested_futures.append(self._tree(child))  # type: ignore[arg-type]
        return node

    def _add_leaf(self, node: pb.Future, handle: int) -> None:
        key = self.handles[handle]
        if key in self.ready:
            return  # already done: nothing to wait for
        if isinstance(key, str):
            node.waiting_named_signals.append(key)
        elif key > 0:
            node.waiting_completions.append(key)
        else:
            node.waiting_signals.append(-key)
