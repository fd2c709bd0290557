"""Per-address connection accounting shared by the invoker's HTTP pools: open count, FIFO waiters, connect back-off,
adaptive connection cap."""

from __future__ import annotations

import asyncio
import math
from collections import deque

from .http_common import TransportError


class ConnectBackoff:
    """When a deployment address may be connected to again: after a failed connect, no new connect is
    tried for a delay that doubles with each failure in a row (from `initial_s` up to `max_s`); a
    success resets it. Attempts that need a connection meanwhile fail at once (their retry policy spaces
    them out) instead of each opening a socket: a refusing or unreachable deployment sees one connect
    per delay, not one per waiting attempt."""

    __slots__ = ("_delay", "_reason", "_retry_at", "initial_s", "max_s")

    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        self.initial_s, self.max_s = initial_s, max_s
        self._delay = 0.0
        self._retry_at = 0.0
        self._reason = ""

    def check(self, authority: str, now: float) -> None:
        """Raises TransportError while connecting to `authority` is held back."""
        if now < self._retry_at:
            wait_ms = max(1, math.ceil((self._retry_at - now) * 1000))
            raise TransportError(f"{self._reason} (not retrying the connection for another {wait_ms} ms)")

    def failed(self, reason: str, now: float) -> None:
        self._delay = self.initial_s if self._delay == 0 else min(self.max_s, self._delay * 2)
        self._retry_at = now + self._delay
        self._reason = reason

    def succeeded(self) -> None:
        self._delay = self._retry_at = 0.0


class ConnectionCap:
    """How many connections to one address may be open: at most `limit` (None: no bound) and, once the
    deployment has pushed back, an adaptive cap (AIMD-like). A fresh connection closed before any byte of
    the response (`pushed_back`) sets the cap to the number of connections still open, the ones the
    deployment keeps; each request answered while others wait for room adds 1/cap to it, so the pool
    probes one connection more per cap answers (a bounded connect rate: one extra connect per round of
    answers, not one per waiting request). Back at `limit`, the adaptive cap is dropped."""

    __slots__ = ("_cap", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._cap: float | None = None  # None: no push-back seen (or grown back to the limit)

    @property
    def value(self) -> int | None:
        """The current bound on open connections (None: unbounded)."""
        if self._cap is None:
            return self.limit
        return int(self._cap)

    def allows(self, open_count: int) -> bool:
        """True when one more connection may be opened while `open_count` are open (connecting included)."""
        bound = self.value
        return bound is None or open_count < bound

    def pushed_back(self, still_open: int) -> None:
        """A fresh connection was closed by the deployment before answering, `still_open` others being open."""
        bound = self.value
        lowered = max(1, still_open)
        self._cap = float(lowered if bound is None else min(bound, lowered))

    def answered(self, others_waiting: bool) -> None:
        """A response head arrived; the cap grows only while requests wait for room (demand above it)."""
        if self._cap is None or not others_waiting:
            return
        self._cap += 1.0 / max(1.0, self._cap)
        if self.limit is not None and self._cap >= self.limit:
            self._cap = None


class HostSlots:
    """The connections of one pool to one address: how many are open (connecting, in use, idle or
    retiring), the requests waiting for room (FIFO), the connect back-off and the connection cap."""

    __slots__ = ("_waiters", "backoff", "cap", "open")

    def __init__(self, limit: int | None = None) -> None:
        self.open = 0
        self.backoff = ConnectBackoff()
        self.cap = ConnectionCap(limit)
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def wait_for_room(self) -> None:
        """Returns once woken (a connection or a stream slot freed); the caller checks again."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.wake()  # woken just as it was cancelled: pass the turn on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def wake(self) -> None:
        """Room freed: the first waiter tries again."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def wake_all(self) -> None:
        """Much room at once (a connection became ready): every waiter tries again; those that find none
        wait again."""
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def fail_waiters(self, err: TransportError) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(err)
