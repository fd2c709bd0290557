"""The tasks a process cannot run without: the first one that fails (or ends) is logged and stops the process.

Why: an asyncio task that raises just ends, and its exception is only reported when the task is
garbage-collected, if ever. A partition whose loop died that way would stay up, keep its queue
growing and answer nothing. Ending the process instead lets the supervisor restart it, and the
restarted partition recovers from its shard (nothing uncommitted was ever acknowledged).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class EssentialTasks:
    """Spawns and watches the long-running tasks of one process; `stop` is called on the first failure."""

    def __init__(self, name: str, stop: Callable[[], None]) -> None:
        self.name = name
        self._stop = stop
        self._tasks: list[asyncio.Task[None]] = []
        self.failed = False

    def spawn(self, what: str, work: Coroutine[Any, Any, None], may_return: bool = False) -> None:
        """Runs `work`; its exception, or its return unless `may_return`, is a failure (see `fail`)."""
        task = asyncio.create_task(work, name=f"{self.name}: {what}")
        task.add_done_callback(functools.partial(self._on_done, what, may_return))
        self._tasks.append(task)

    def fail(self, what: str, exc: BaseException) -> None:
        """Logs why the process must end (once, the first cause) and asks it to stop with a failure."""
        if not self.failed:
            self.failed = True
            log.critical("%s: %s failed; exiting so that the supervisor restarts it", self.name, what, exc_info=exc)
        self._stop()

    async def cancel_all(self) -> None:
        """Cancels every task (a normal stop) and waits for them to end."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_done(self, what: str, may_return: bool, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and not may_return:
            exc = RuntimeError(f"{what} returned")
        if exc is not None:
            self.fail(what, exc)
