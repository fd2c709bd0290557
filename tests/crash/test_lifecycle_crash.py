"""Crash tests for the invocation lifecycle: locked object keys with an inbox, workflows waiting on
a promise, and pending delayed sends and idempotency entries survive SIGKILL; nothing runs twice.

Ours only: the real server cannot lose a single partition. The same scenarios were checked against
the real restate-server 1.7.12 with a whole-server SIGKILL + restart in place of `crash_owner`.
Services: tests/services/lifecycle.py (side-effect lines, awakeable gates); helpers are shared
with tests/integration/test_lifecycle.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.ids import partition_for, partition_key_for
from tests.integration.lifecycle_support import (
    PARTITIONS,
    LifecycleStack,
    assert_accepted,
    assert_empty_202,
    assert_ok,
    compact,
    start_stack,
    unique,
    wait_until,
)
from tests.support import OurRestateServer


@pytest.fixture(params=["ours"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LifecycleStack]:
    with start_stack(request.param, tmp_path) as s:
        yield s


def crash_owner(stack: LifecycleStack, object_key: str) -> None:
    """SIGKILL the partition process that owns `object_key` and wait until it was restarted."""
    server = stack.server
    assert isinstance(server, OurRestateServer)
    server.kill_partition(partition_for(partition_key_for(object_key), PARTITIONS))


def crash_server(stack: LifecycleStack) -> None:
    """SIGKILL the whole server (every process) and start it again on the same data."""
    stack.server.restart(graceful=False)


def test_locked_key_with_inbox_survives_partition_crash(stack: LifecycleStack) -> None:
    key = unique("crash")
    holder = stack.send(f"Locker/{key}/gated_append", "a")
    stack.awakeable(f"{key}/a")
    queued = [stack.send(f"Locker/{key}/append", item) for item in "bcd"]
    crash_owner(stack, key)
    gate = stack.awakeable(f"{key}/a")  # the same id: awakeable ids are derived from the journal
    assert set(stack.lines(f"awakeable {key}/a ")) == {f"awakeable {key}/a {gate}"}
    assert_empty_202(stack.resolve(gate, "go"))
    assert_ok(stack.attach(holder), b'["a"]', holder)
    for inv, expected in zip(queued, [b'["a", "b"]', b'["a", "b", "c"]', b'["a", "b", "c", "d"]'], strict=True):
        assert_ok(stack.attach(inv), expected, inv)
    assert_ok(stack.call(f"Locker/{key}/peek"), b'["a", "b", "c", "d"]')
    assert stack.lines(f"append {key} ") == [f"append {key} {item}" for item in "abcd"]


def test_workflow_waiting_on_a_promise_survives_partition_crash(stack: LifecycleStack) -> None:
    key = unique("wfc")
    run = stack.send(f"Signup/{key}/run", "Ann")
    # `status` is set after the journaled `record` step: once it reads "waiting", that step is durable
    wait_until(lambda: stack.call(f"Signup/{key}/status").content, lambda c: c == b'"waiting"', "run waits")
    crash_owner(stack, key)
    assert stack.output(run).status_code == 470
    assert_ok(stack.call(f"Signup/{key}/approve", "Bob"), b'"resolved by Bob"')
    assert_ok(stack.get(f"restate/workflow/Signup/{key}/attach"), b'"Ann approved by Bob"', run)
    assert_accepted(stack.server.send(f"Signup/{key}/run", "Again"), "PreviouslyAccepted", run)
    assert stack.lines(f"wf-run {key}") == [f"wf-run {key}"]


def test_delayed_sends_and_idempotency_survive_server_crash(stack: LifecycleStack) -> None:
    # completed idempotent call, pending idempotent invocation, and three delayed sends
    tally, done_key, pending_key = unique("t"), unique("done"), unique("pending")
    done = stack.call(f"Tally/{tally}/bump", "first", {"idempotency-key": done_key})
    assert_ok(done, b'"first#1"')
    label = unique("gate")
    pending = stack.send("Waiter/wait", label, {"idempotency-key": pending_key})
    stack.awakeable(label)
    tags = [unique("late") for _ in range(3)]
    delayed: dict[str, tuple[str, float]] = {}
    for tag in tags:
        resp = stack.server.send("Stamp/record", tag, delay="2s")
        assert resp.status_code == 202, resp.text
        delayed[tag] = (resp.json()["invocationId"], time.time() + 2.0)

    crash_server(stack)

    again = stack.call(f"Tally/{tally}/bump", "second", {"idempotency-key": done_key})
    assert_ok(again, b'"first#1"', done.headers["x-restate-id"])
    assert_accepted(
        stack.server.send("Waiter/wait", "x", {"idempotency-key": pending_key}), "PreviouslyAccepted", pending
    )
    assert_empty_202(stack.resolve(stack.awakeable(label), "after crash"))
    assert_ok(stack.attach(pending), b'"after crash"', pending)
    for tag, (inv, due) in delayed.items():
        assert_ok(stack.attach(inv), compact(tag), inv)
        ran_at = float(stack.wait_lines(f"stamp {tag} ")[0].split()[2])
        assert ran_at >= due - 0.1, (tag, ran_at, due)  # not early
    assert_ok(stack.call(f"Tally/{tally}/count"), b"1")
    stamps = Counter(line.split()[1] for line in stack.lines("stamp "))
    assert all(stamps[tag] == 1 for tag in tags), stamps
