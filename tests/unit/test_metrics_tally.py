"""restate.metrics.Tally: increments reach the counter once per event-loop pass, or at once without a loop."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter

from restate.metrics import Tally, flush_tallies


def _counter() -> Counter:
    return Counter("tally_test", "test", ("k",), registry=CollectorRegistry())


def test_without_a_loop_every_inc_is_written() -> None:
    child = _counter().labels("a")
    tally = Tally(child)
    tally.inc()
    tally.inc(2)
    assert child._value.get() == 3


def test_in_a_loop_the_pass_is_summed_then_written() -> None:
    child = _counter().labels("b")
    tally = Tally(child)

    async def scenario() -> list[float]:
        seen = []
        for _ in range(5):
            tally.inc()
        seen.append(child._value.get())  # not yet: still in the same pass
        await asyncio.sleep(0)
        seen.append(child._value.get())
        tally.inc(0.5)
        flush_tallies()  # explicit flush (shutdown)
        seen.append(child._value.get())
        await asyncio.sleep(0)
        seen.append(child._value.get())  # the scheduled flush finds nothing more
        return seen

    assert asyncio.run(scenario()) == [0, 5, 5.5, 5.5]


def test_a_loop_that_ended_before_its_flush_does_not_block_later_ones() -> None:
    child = _counter().labels("c")
    tally = Tally(child)

    async def count_and_leave() -> None:
        tally.inc()  # the flush is scheduled on this loop, which closes before running it

    asyncio.run(count_and_leave())

    async def count_again() -> float:
        tally.inc()
        await asyncio.sleep(0)
        return float(child._value.get())

    assert asyncio.run(count_again()) == 2
