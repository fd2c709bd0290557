"""Resolution of V7 future trees (PROTOCOL.md 8.4)."""

from __future__ import annotations

import pytest

from restate.partition.awaiting import Notified, Resolution, can_resume, resolve
from restate.protocol import pb
from tests.unit.partition.harness import future

F = pb.Future
R = Resolution


def seen(done: set[int] = frozenset(), failed: set[int] = frozenset(), signals=(), names=()) -> Notified:  # type: ignore[assignment]
    return Notified(set(done) | set(failed), set(signals), set(names), set(failed))


def test_leaf_outcomes() -> None:
    node = future(F.FIRST_COMPLETED, completions=(1,))
    assert resolve(node, seen()) is R.PENDING
    assert resolve(node, seen({1})) is R.SUCCEEDED
    assert resolve(node, seen(failed={1})) is R.FAILED
    # signals and named signals are done, with an outcome the server does not judge
    assert resolve(future(F.FIRST_COMPLETED, signals=(17,)), seen(signals={17})) is R.DONE
    assert resolve(future(F.FIRST_COMPLETED, names=("go",)), seen(names={"go"})) is R.DONE
    assert resolve(future(F.FIRST_COMPLETED, names=("go",)), seen(names={"stop"})) is R.PENDING


def test_first_completed() -> None:
    node = future(F.FIRST_COMPLETED, completions=(1, 2), signals=(1,))
    assert resolve(node, seen()) is R.PENDING
    assert resolve(node, seen({2})) is R.SUCCEEDED
    assert resolve(node, seen(failed={1})) is R.FAILED
    assert resolve(node, seen(signals={1})) is R.DONE


def test_all_completed() -> None:
    node = future(F.ALL_COMPLETED, completions=(1, 2))
    assert resolve(node, seen({1})) is R.PENDING
    assert resolve(node, seen({1}, failed={2})) is R.DONE
    assert resolve(node, seen({1, 2})) is R.DONE


def test_all_succeeded_or_first_failed() -> None:
    node = future(F.ALL_SUCCEEDED_OR_FIRST_FAILED, completions=(1, 2, 3))
    assert resolve(node, seen({1, 2})) is R.PENDING
    assert resolve(node, seen({1, 2, 3})) is R.SUCCEEDED
    assert resolve(node, seen(failed={2})) is R.FAILED  # the first failure decides, others still pending
    assert resolve(node, seen({1}, failed={3})) is R.FAILED


def test_first_succeeded_or_all_failed() -> None:
    node = future(F.FIRST_SUCCEEDED_OR_ALL_FAILED, completions=(1, 2, 3))
    assert resolve(node, seen(failed={1, 2})) is R.PENDING
    assert resolve(node, seen({3}, failed={1})) is R.SUCCEEDED
    assert resolve(node, seen({2})) is R.SUCCEEDED
    assert resolve(node, seen(failed={1, 2, 3})) is R.FAILED


def test_nested_trees() -> None:
    # Promise.all([a, any(b, c)]) -> ALL_SUCCEEDED_OR_FIRST_FAILED{[1], FIRST_SUCCEEDED_OR_ALL_FAILED{[2, 3]}}
    node = future(
        F.ALL_SUCCEEDED_OR_FIRST_FAILED,
        completions=(1,),
        nested=(future(F.FIRST_SUCCEEDED_OR_ALL_FAILED, completions=(2, 3)),),
    )
    assert resolve(node, seen({1}, failed={2})) is R.PENDING
    assert resolve(node, seen({1, 3}, failed={2})) is R.SUCCEEDED
    assert resolve(node, seen({1}, failed={2, 3})) is R.FAILED
    assert resolve(node, seen(failed={1})) is R.FAILED


def test_unknown_combinator_is_any_child_done() -> None:
    node = future(F.UNKNOWN, completions=(1, 2))
    assert resolve(node, seen()) is R.PENDING
    assert resolve(node, seen({2})) is not R.PENDING


def test_signal_inside_a_success_sensitive_combinator_resumes() -> None:
    node = future(F.ALL_SUCCEEDED_OR_FIRST_FAILED, completions=(1,), signals=(17,))
    assert resolve(node, seen(signals={17})) is R.DONE
    assert can_resume(node.SerializeToString(), seen(signals={17}))


@pytest.mark.parametrize(
    ("kind", "unknown_child"),
    [
        # the UNKNOWN node is done with a success, its sibling is pending: Promise.all semantics cannot tell
        (F.ALL_SUCCEEDED_OR_FIRST_FAILED, seen({1})),
        # the UNKNOWN node is done with a failure, its sibling is pending: Promise.any semantics cannot tell
        (F.FIRST_SUCCEEDED_OR_ALL_FAILED, seen(failed={1})),
    ],
)
def test_unknown_inside_a_success_sensitive_combinator_resumes(kind: int, unknown_child: Notified) -> None:
    """PROTOCOL.md 8.4: "If the outcome cannot be decided (an UNKNOWN inside a success/failure-sensitive
    combinator), resume." The server cannot know what an UNKNOWN node's outcome means."""
    node = future(kind, completions=(2,), nested=(future(F.UNKNOWN, completions=(1,)),))
    assert resolve(node, unknown_child) is not R.PENDING
    assert can_resume(node.SerializeToString(), unknown_child)


def test_pending_unknown_inside_a_combinator_stays_pending() -> None:
    node = future(F.ALL_SUCCEEDED_OR_FIRST_FAILED, completions=(2,), nested=(future(F.UNKNOWN, completions=(1,)),))
    assert resolve(node, seen({2})) is R.PENDING


def test_can_resume_parses_the_serialized_future() -> None:
    node = future(F.FIRST_COMPLETED, completions=(4,), signals=(1,))
    raw = node.SerializeToString()
    assert not can_resume(raw, seen({3}))
    assert can_resume(raw, seen({4}))
    assert can_resume(raw, seen(signals={1}))


def test_depth_cap_resumes_rather_than_recursing_forever() -> None:
    node = future(F.FIRST_COMPLETED, completions=(1,))
    assert resolve(node, seen(), depth=1000) is R.PENDING
    assert resolve(node, seen(), depth=1001) is R.DONE
