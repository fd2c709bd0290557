"""The invoker's admission queue: bounds per partition and per deployment, FIFO order, no starvation of new work."""

from __future__ import annotations

import random

import pytest

from restate.invoker.admission import Admission


def _id(n: int) -> bytes:
    return n.to_bytes(24, "big")


def _drain(adm: Admission) -> list[tuple[int, str]]:
    return [(int.from_bytes(i, "big"), d) for i, d in adm.launchable()]


def test_admits_up_to_the_limit_then_queues() -> None:
    adm = Admission(3)
    assert [adm.admit(_id(n), "d") for n in range(5)] == [True, True, True, False, False]
    assert (adm.running, adm.waiting) == (3, 2)
    assert _drain(adm) == []  # no room: nothing launches
    adm.release("d")
    assert _drain(adm) == [(3, "d")]
    adm.release("d")
    adm.release("d")
    assert _drain(adm) == [(4, "d")]
    assert (adm.running, adm.waiting) == (2, 0)


def test_a_burst_never_launches_past_the_bound() -> None:
    """Counted when admitted, not when the attempt gets to run: 10,000 at once take 100 slots."""
    adm = Admission(100)
    admitted = sum(adm.admit(_id(n), "d", recovered=n % 2 == 0) for n in range(10_000))
    assert admitted == 100 and adm.running == 100 and adm.waiting == 9_900
    assert _drain(adm) == []


def test_per_deployment_bound_holds_back_only_that_deployment() -> None:
    adm = Admission(10, per_deployment=2)
    assert [adm.admit(_id(n), "slow") for n in range(4)] == [True, True, False, False]
    assert adm.admit(_id(10), "fast")  # the full deployment does not block another one
    assert adm.running_for("slow") == 2 and adm.running_for("fast") == 1
    adm.release("fast")
    assert _drain(adm) == []
    adm.release("slow")
    assert _drain(adm) == [(2, "slow")]


def test_fifo_across_deployments_within_a_class() -> None:
    adm = Admission(1)
    assert adm.admit(_id(0), "a")
    for n, dep in [(1, "b"), (2, "a"), (3, "b"), (4, "c")]:
        assert not adm.admit(_id(n), dep)
    order = []
    for _ in range(4):
        adm.release(order[-1][1] if order else "a")
        order += _drain(adm)
    assert [n for n, _ in order] == [1, 2, 3, 4]


def test_new_work_takes_turns_with_a_recovery_backlog() -> None:
    """After a restart 1,000 recovered attempts wait; a new invocation waits for at most one of them."""
    adm = Admission(4)
    for n in range(1_000):
        adm.admit(_id(n), "d", recovered=True)
    assert adm.running == 4
    assert not adm.admit(_id(5_000), "d")  # new work arrives behind the backlog
    assert not adm.admit(_id(5_001), "d")
    launched = []
    while len(launched) < 4:
        adm.release("d")
        launched += [n for n, _ in _drain(adm)]
    assert 5_000 in launched[:2] and 5_001 in launched[:4]
    assert [n for n in launched if n < 5_000] == sorted(n for n in launched if n < 5_000)  # FIFO in a class


def test_recovered_work_is_not_starved_by_new_work_either() -> None:
    adm = Admission(1)
    adm.admit(_id(0), "d")
    adm.admit(_id(1), "d", recovered=True)
    for n in range(2, 100):
        adm.admit(_id(n), "d")
    launched = []
    for _ in range(3):
        adm.release("d")
        launched += [n for n, _ in _drain(adm)]
    assert 1 in launched[:2]


def test_discard_forgets_a_waiting_attempt_and_readmission_keeps_one_place() -> None:
    adm = Admission(1)
    adm.admit(_id(0), "d")
    adm.admit(_id(1), "d")
    adm.admit(_id(2), "d")
    assert not adm.admit(_id(1), "d")  # already waiting: still once
    assert adm.waiting == 2 and _id(1) in adm
    assert adm.discard(_id(1)) and not adm.discard(_id(1))
    adm.release("d")
    assert _drain(adm) == [(2, "d")]


def test_release_of_a_slot_never_taken_is_a_bug() -> None:
    adm = Admission(2)
    with pytest.raises(RuntimeError):
        adm.release("d")
    adm.admit(_id(0), "a")
    with pytest.raises(RuntimeError):
        adm.release("b")


def test_random_operations_keep_every_bound() -> None:
    rng = random.Random(16)
    adm = Admission(8, per_deployment=3)
    running: list[str] = []
    waiting: set[int] = set()
    for step in range(5_000):
        op = rng.random()
        if op < 0.5:
            dep = rng.choice("abc")
            if adm.admit(_id(step), dep, recovered=rng.random() < 0.5):
                running.append(dep)
            else:
                waiting.add(step)
        elif op < 0.85 and running:
            adm.release(running.pop(rng.randrange(len(running))))
        elif waiting:
            gone = rng.choice(sorted(waiting))
            assert adm.discard(_id(gone))
            waiting.discard(gone)
        for n, dep in _drain(adm):
            waiting.discard(n)
            running.append(dep)
        assert adm.running == len(running) <= 8
        assert all(running.count(d) <= 3 for d in "abc")
        assert adm.waiting == len(waiting)
        # never idle while something could run
        if adm.waiting and adm.running < 8:
            assert all(running.count(d) == 3 for d in {d for _, (d, _) in adm._where.items()})
