"""The typed invocation states and the one module that changes them (restate.partition.transitions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.partition import transitions
from restate.partition.actions import ReplyDone, StartAttempt
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import EndCmd, InvokeCmd, SdkMessageCmd
from restate.partition.state_machine import StateMachine
from restate.partition.transitions import InvalidTransition
from restate.protocol import MESSAGE_TYPES, pb
from restate.storage import records as r
from restate.storage.partition_store import PartitionStore
from restate.storage.tables import Tables
from restate.storage.view import PartitionView
from restate.wire import Outcome
from tests.unit.partition.harness import DEPLOYMENT_ID, NOW, Partition, counter_add, make_schema, request, sink

FRAME = b"\x00\x00\x00\x00\x00\x00\x00\x00"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApplyContext]:
    store = PartitionStore(tmp_path / "p")
    yield ApplyContext(store.transaction(), NOW, make_schema(), 0, 4, False)
    store.close()


def test_a_life_through_every_state(ctx: ApplyContext) -> None:
    req = request(counter_add("k"), b"1", execute_at_ms=NOW + 50)
    inv = req.invocation_id
    status = transitions.create(ctx, inv, req, sink(3), False, FRAME)
    caller = r.IngressWaiter(node="ingress-0", request_id=3)
    assert status.state == r.Scheduled(execute_at_ms=NOW + 50, ingress=[caller])
    assert (status.journal.length, status.attempt, status.status) == (1, 0, "scheduled")

    transitions.enqueue(ctx, inv, status, 7)
    assert isinstance(status.state, r.Inboxed) and status.state.inbox_seq == 7 and status.state.ingress

    transitions.start_attempt(ctx, inv, status)
    assert status.state == r.Invoked(attempts=r.Attempts(number=1), ingress=status.state.ingress)
    assert (status.deployment_id, status.protocol_version) == (DEPLOYMENT_ID, 6)  # pinned by the first attempt
    assert ctx.actions == [StartAttempt(inv, 0)]

    transitions.attempt_failed(ctx, inv, status, "[500] boom")
    ctx.now_ms = NOW + 10
    transitions.start_attempt(ctx, inv, status, 200)
    attempts = r.Attempts(number=2, retry_count=1, last_failure="[500] boom")
    assert status.state == r.BackingOff(attempts=attempts, retry_at_ms=NOW + 210, ingress=status.state.ingress)
    assert status.status == "invoked" and status.attempt == 2 and status.modified_at_ms == NOW + 10

    transitions.suspend(ctx, inv, status, b"future")
    assert isinstance(status.state, r.Suspended) and status.state.attempts == attempts
    transitions.start_attempt(ctx, inv, status)  # resumed: it has failed before, so it is backing off still
    assert isinstance(status.state, r.BackingOff) and status.attempt == 3

    transitions.pause(ctx, inv, status)
    assert isinstance(status.state, r.Paused) and status.state.attempts.number == 3
    transitions.set_output(ctx, inv, status, r.OutcomeRecord(value=b"x"))
    waited = transitions.complete(ctx, inv, status, r.OutcomeRecord(value=b"x"), NOW + 99)
    assert waited.ingress == [r.IngressWaiter(node="ingress-0", request_id=3)]  # the caller answers them
    assert status.state == r.Completed(outcome=r.OutcomeRecord(value=b"x"), expires_at_ms=NOW + 99)
    assert status.journal.output is None and status.waiting is None and status.attempt == 0


def test_transitions_a_state_does_not_allow_are_refused(ctx: ApplyContext) -> None:
    req = request()
    status = transitions.create(ctx, req.invocation_id, req, None, True, FRAME)
    inv = req.invocation_id
    with pytest.raises(InvalidTransition, match="no attempt runs"):
        transitions.suspend(ctx, inv, status, b"")
    transitions.start_attempt(ctx, inv, status)
    with pytest.raises(InvalidTransition, match="expected a Scheduled invocation, it is invoked"):
        transitions.enqueue(ctx, inv, status, 1)
    transitions.complete(ctx, inv, status, r.OutcomeRecord(), NOW)
    for change in (
        lambda: transitions.complete(ctx, inv, status, r.OutcomeRecord(), NOW),
        lambda: transitions.start_attempt(ctx, inv, status),
        lambda: transitions.pause(ctx, inv, status),
        lambda: transitions.add_ingress_waiter(ctx, inv, status, r.IngressWaiter(node="n", request_id=1)),
    ):
        with pytest.raises(InvalidTransition):
            change()


def count_status_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The invocation ids of every status written from now on, in order."""
    writes: list[bytes] = []
    real = Tables.put_status

    def counted(self: Tables, invocation_id: bytes, status: r.InvocationStatus, stored: type | None = None) -> None:
        writes.append(invocation_id)
        real(self, invocation_id, status, stored)

    monkeypatch.setattr(Tables, "put_status", counted)
    return writes


@pytest.fixture
def status_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return count_status_writes(monkeypatch)


def test_an_entry_of_one_command_writes_each_status_it_changes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lazy state read is stored, then its completion appended: one write of the status. An End that
    completes an object invocation and starts the next one in the key's inbox: one write of each."""
    p = Partition(tmp_path / "p0")
    try:
        first, second = request(counter_add("k")), request(counter_add("k"))
        p.apply(InvokeCmd(first, sink(1)))
        p.apply(InvokeCmd(second, sink(2)))
        assert p.status(second.invocation_id).status == "inboxed"
        writes = count_status_writes(monkeypatch)
        p.sdk(first.invocation_id, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1))
        assert writes == [first.invocation_id] and p.status(first.invocation_id).completions == [1]
        p.sdk(first.invocation_id, pb.OutputCommandMessage(value=pb.Value(content=b"1")))
        writes.clear()
        p.apply(EndCmd(first.invocation_id, p.attempt(first.invocation_id)))
        assert sorted(writes) == sorted([first.invocation_id, second.invocation_id])
        assert (p.status(first.invocation_id).status, p.status(second.invocation_id).status) == ("completed", "invoked")
    finally:
        p.close()


def test_an_entry_writes_each_status_once_and_its_commands_see_each_others_changes(
    tmp_path: Path, status_writes: list[bytes]
) -> None:
    store = PartitionStore(tmp_path / "p")
    machine = StateMachine(0, 4)
    try:
        req = request(counter_add("k"))
        inv = req.invocation_id
        output = pb.OutputCommandMessage(value=pb.Value(content=b"7"))
        commands = [
            InvokeCmd(req, sink(1)),
            SdkMessageCmd(inv, 1, MESSAGE_TYPES[type(output)], 0, output.SerializeToString()),
            EndCmd(inv, 1),
        ]
        txn = store.transaction()
        actions = machine.apply_entry(txn, machine.entry(commands, NOW, 1), make_schema())
        txn.commit()
        assert status_writes == [inv]  # created, run, given its output and completed: one write
        assert ReplyDone(sink(1), inv, Outcome(value=b"7")) in actions
        status = PartitionView(store).status(inv)
        assert status is not None and status.status == "completed" and status.journal.length == 2
    finally:
        store.close()
