"""Combinators over durable futures: gather, select, as_completed, wait_completed (deterministic on replay)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from restate.sdk.exceptions import TerminalError
from restate.sdk.futures import RestateDurableFuture
from restate.sdk.server_futures import ServerDurableFuture
from restate.sdk.vm_types import AllCompleted, FirstCompleted, UnresolvedFuture

__all__ = ["as_completed", "gather", "select", "wait_completed"]


def _check(futures: list[RestateDurableFuture[Any]]) -> Any:
    """The common context of SDK futures (TerminalError for foreign futures or mixed contexts)."""
    context = None
    for f in futures:
        if not isinstance(f, ServerDurableFuture):
            raise TerminalError("All futures must be SDK created futures.")
        if context is None:
            context = f.context
        elif context is not f.context:
            raise TerminalError("All futures must be created by the same SDK context.")
    return context


async def gather(*futures: RestateDurableFuture[Any]) -> list[RestateDurableFuture[Any]]:
    """Wait until every future completed (successfully or not); returns the futures to await for their values."""
    items = list(futures)
    context = _check(items)
    pending: list[UnresolvedFuture] = [f.handle for f in items if not f.is_completed()]  # type: ignore[attr-defined]
    if pending:
        await context.poll(AllCompleted(pending))
    return items


async def wait_completed(
    *args: RestateDurableFuture[Any],
) -> tuple[list[RestateDurableFuture[Any]], list[RestateDurableFuture[Any]]]:
    """Wait until at least one future completed; returns (completed, not completed), in argument order."""
    futures = list(args)
    if not futures:
        return [], []
    context = _check(futures)
    done = [f for f in futures if f.is_completed()]  # type: ignore[attr-defined]
    if done:
        return done, [f for f in futures if not f.is_completed()]  # type: ignore[attr-defined]
    await context.poll(FirstCompleted([f.handle for f in futures]))  # type: ignore[attr-defined]
    done = [f for f in futures if f.is_completed()]  # type: ignore[attr-defined]
    return done, [f for f in futures if f not in done]


async def as_completed(*futures: RestateDurableFuture[Any]) -> AsyncIterator[RestateDurableFuture[Any]]:
    """Yield the futures as they complete."""
    remaining = list(futures)
    while remaining:
        done, remaining = await wait_completed(*remaining)
        for f in done:
            yield f


async def select(**kws: RestateDurableFuture[Any]) -> list[Any]:
    """Wait for the first of the named futures: returns `[name, value]` (the value may raise TerminalError).

    Example: `match await select(ok=ctx.promise("p").value(), timeout=ctx.sleep(timedelta(seconds=10))): ...`
    """
    if not kws:
        raise ValueError("At least one future must be passed.")
    names = {id(f): key for key, f in kws.items()}
    async for f in as_completed(*kws.values()):
        return [names[id(f)], await f]
    raise AssertionError("unreachable")
