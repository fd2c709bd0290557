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
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_S = 0.2  # how often a task that is still running after its cancellation is cancelled again
CANCEL_PATIENCE_S = 10.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], patience_s: float = CANCEL_PATIENCE_S) -> None:
    """Cancels `tasks` and waits until they ended, cancelling again those that go on: a cancellation can be
    lost inside a library (Python 3.11's `asyncio.wait_for` swallows it when its inner wait completes at the
    same moment; aetcd's watch creation uses it), and a stop must not hang on that. Tasks still running
    after `patience_s` are logged and left to the event loop's teardown."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
        if pending and loop.time() >= deadline:
            log.error(
                "tasks still running %.0fs after their cancellation: %s", patience_s, [t.get_name() for t in pending]
            )
            return
    for task in tasks:  # retrieved, so that none is reported as "exception never retrieved"
        if task.done() and not task.cancelled():
            task.exception()


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
        """Cancels every task (a normal stop) and waits for them to end (see cancel_and_wait)."""
        await cancel_and_wait(self._tasks)

    def _on_done(self, what: str, may_return: bool, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and not may_return:
            exc = RuntimeError(f"{what} returned")
        if exc is not None:
            self.fail(what, exc)
