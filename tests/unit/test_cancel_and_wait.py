"""`restate.actors.essential_tasks.cancel_and_wait`: a stop that does not hang on a lost cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from restate.actors.essential_tasks import EssentialTasks, cancel_and_wait


async def _swallows_first_cancellation(ended: list[str]) -> None:
    """As a library's wait_for does on Python 3.11 when its inner wait completes as it is cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass
    try:
        await asyncio.sleep(3600)  # goes on (a watch created after all): only a second cancel ends it
    finally:
        ended.append("swallower")


def test_a_task_that_loses_its_cancellation_is_cancelled_again() -> None:
    async def scenario() -> list[str]:
        ended: list[str] = []
        swallower = asyncio.create_task(_swallows_first_cancellation(ended))
        plain = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait([swallower, plain], patience_s=5.0), 3.0)
        assert swallower.cancelled() and plain.cancelled()
        return ended

    assert asyncio.run(scenario()) == ["swallower"]


def test_essential_tasks_stop_even_when_a_task_loses_its_cancellation() -> None:
    async def scenario() -> None:
        tasks = EssentialTasks("p0", lambda: None)
        tasks.spawn("the watch", _swallows_first_cancellation([]))
        await asyncio.sleep(0)
        await asyncio.wait_for(tasks.cancel_all(), 3.0)
        assert not tasks.failed

    asyncio.run(scenario())


def test_a_task_that_never_ends_is_logged_and_left_after_the_patience(caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn(release: asyncio.Event) -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                pass

    async def scenario() -> None:
        release = asyncio.Event()
        task = asyncio.create_task(stubborn(release), name="stubborn")
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait([task], patience_s=0.5), 3.0)
        assert not task.done()
        release.set()
        await task

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert "['stubborn']" in caplog.text


def test_an_exception_of_an_ended_task_is_retrieved() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        await cancel_and_wait([task])
        assert isinstance(task.exception(), ValueError)

    asyncio.run(scenario())
