"""Durable timers in memory: a heap of the timers due soon, refilled from storage, firing as commands."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Iterator

from restate.partition.commands import TimerFiredCmd

HORIZON_MS = 60_000  # only timers due within this window are held in memory; later ones are re-read


def now_ms() -> int:
    return int(time.time() * 1000)


class TimerService:
    def __init__(
        self,
        scan: Callable[[int], Iterator[tuple[int, bytes, int]]],
        fire: Callable[[TimerFiredCmd], None],
        on_failure: Callable[[str, BaseException], None],
    ) -> None:
        self._scan = scan  # all stored timers due before a given time, in order
        self._fire = fire
        self._on_failure = on_failure  # a periodic reload that fails would leave later timers unfired
        self._heap: list[tuple[int, bytes, int]] = []
        self._known: set[tuple[int, bytes, int]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._refill: asyncio.TimerHandle | None = None
        self._loaded_until = 0

    @property
    def armed(self) -> int:
        return len(self._heap)

    def start(self) -> None:
        self._reload()

    def arm(self, wake_up_ms: int, invocation_id: bytes, completion_id: int) -> None:
        if wake_up_ms > self._loaded_until:
            return  # picked up by the next reload from storage
        entry = (wake_up_ms, invocation_id, completion_id)
        if entry in self._known:
            return
        self._known.add(entry)
        heapq.heappush(self._heap, entry)
        self._schedule()

    def _reload(self) -> None:
        self._loaded_until = now_ms() + HORIZON_MS
        for entry in self._scan(self._loaded_until):
            if entry not in self._known:
                self._known.add(entry)
                heapq.heappush(self._heap, entry)
        self._schedule()
        loop = asyncio.get_running_loop()
        self._refill = loop.call_later(HORIZON_MS / 2000, self._periodic_reload)

    def _periodic_reload(self) -> None:
        try:
            self._reload()
        except Exception as exc:  # reading the shard failed (StorageError): the partition cannot go on
            self._on_failure("the timer reload", exc)

    def _schedule(self) -> None:
        if not self._heap:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (self._heap[0][0] - now_ms()) / 1000)
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(delay, self._on_due)

    def _on_due(self) -> None:
        self._handle = None
        current = now_ms()
        while self._heap and self._heap[0][0] <= current:
            entry = heapq.heappop(self._heap)
            self._known.discard(entry)
            self._fire(TimerFiredCmd(*entry))
        self._schedule()

    def stop(self) -> None:
        for handle in (self._handle, self._refill):
            if handle is not None:
                handle.cancel()
