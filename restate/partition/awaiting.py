"""Decides whether a suspended invocation's awaited future can now make progress (PROTOCOL.md 8.4)."""

from __future__ import annotations

from enum import Enum

from restate.protocol._generated import service_protocol_pb2 as pb


class Resolution(Enum):
    PENDING = 0
    SUCCEEDED = 1
    FAILED = 2
    DONE = 3  # done, outcome unknown to the server (treated as "resume")


class Notified:
    """The notifications present in a journal: ids, and which of them carry a failure."""

    __slots__ = ("completions", "signals", "names", "failed_completions")

    def __init__(
        self,
        completions: set[int],
        signals: set[int],
        names: set[str],
        failed_completions: set[int] | None = None,
    ) -> None:
        self.completions = completions
        self.signals = signals
        self.names = names
        self.failed_completions = failed_completions or set()


def _leaves(future: pb.Future, seen: Notified) -> list[Resolution]:
    out: list[Resolution] = []
    for cid in future.waiting_completions:
        if cid not in seen.completions:
            out.append(Resolution.PENDING)
        elif cid in seen.failed_completions:
            out.append(Resolution.FAILED)
        else:
            out.append(Resolution.SUCCEEDED)
    for idx in future.waiting_signals:
        out.append(Resolution.DONE if idx in seen.signals else Resolution.PENDING)
    for name in future.waiting_named_signals:
        out.append(Resolution.DONE if name in seen.names else Resolution.PENDING)
    return out


def resolve(future: pb.Future, seen: Notified, depth: int = 0) -> Resolution:
    """Evaluates a future tree; anything whose outcome the server cannot tell resumes (DONE)."""
    if depth > 1000:
        return Resolution.DONE
    children = _leaves(future, seen) + [resolve(f, seen, depth + 1) for f in future.nested_futures]
    done = [c for c in children if c is not Resolution.PENDING]
    kind = future.combinator_type
    if kind == pb.Future.FIRST_COMPLETED:
        return done[0] if done else Resolution.PENDING
    if kind == pb.Future.UNKNOWN:
        return Resolution.DONE if done else Resolution.PENDING  # done, but the server cannot tell how
    if kind == pb.Future.ALL_COMPLETED:
        return Resolution.DONE if len(done) == len(children) else Resolution.PENDING
    if Resolution.DONE in done:
        return Resolution.DONE  # an unknown outcome inside a success/failure-sensitive combinator
    if kind == pb.Future.FIRST_SUCCEEDED_OR_ALL_FAILED:
        if Resolution.SUCCEEDED in done:
            return Resolution.SUCCEEDED
        return Resolution.FAILED if len(done) == len(children) else Resolution.PENDING
    if kind == pb.Future.ALL_SUCCEEDED_OR_FIRST_FAILED:
        if Resolution.FAILED in done:
            return Resolution.FAILED
        return Resolution.SUCCEEDED if len(done) == len(children) else Resolution.PENDING
    return Resolution.DONE if done else Resolution.PENDING


def can_resume(serialized_future: bytes, seen: Notified) -> bool:
    future = pb.Future()
    future.ParseFromString(serialized_future)
    return resolve(future, seen) is not Resolution.PENDING
