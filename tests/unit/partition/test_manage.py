"""Invocation management (cancel, kill, pause, resume, purge, purge-journal) with HTTP-API.md 2.6's answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from restate.partition.actions import ArmTimer, KillAttempt, Reply, ReplyAccepted, ReplyDone, StartAttempt
from restate.partition.commands import EndCmd, InvokeCmd, OutboxCmd, TimerFiredCmd
from restate.partition.lifecycle import PURGE_TIMER, START_TIMER
from restate.protocol import pb
from restate.schema import DEFAULT_RETENTION_MS
from restate.wire import (
    CallerSink,
    CommandResult,
    Failure,
    InvocationOp,
    InvocationResponse,
    NotFound,
    Outcome,
    Signal,
)
from tests.unit.partition.harness import (
    ADMIN,
    GREETER,
    NOW,
    Partition,
    assert_actions,
    command_result,
    counter_add,
    make_schema,
    new_id,
    of_type,
    only_forward,
    parse_frame,
    request,
    run_request,
    shipped,
    signup_approve,
    sink,
    starts,
)
from tests.unit.partition.request_helpers import (
    CANCELED,
    KILLED,
    NODE,
    T,
    completed,
    name_of,
    output,
    paused,
    started,
    suspended,
)

# --- invocation management: the status code and message of every (op, status)

Maker = Callable[[Partition], bytes]


def _make_scheduled(p: Partition) -> bytes:
    inv = started(p, execute_at_ms=NOW + 10_000)
    assert p.status(inv).status == "scheduled"
    return inv


def _make_inboxed(p: Partition) -> bytes:
    started(p, counter_add("k"))
    inv = started(p, counter_add("k"), request_id=2)
    assert p.status(inv).status == "inboxed"
    return inv


STATUSES: dict[str, Maker] = {
    "scheduled": _make_scheduled,
    "inboxed": _make_inboxed,
    "invoked": started,
    "suspended": suspended,
    "paused": paused,
    "completed": completed,
    "unknown": lambda p: new_id(),
}

COMPLETED = "The invocation '{}' was already completed."
NOT_COMPLETED = "The invocation '{}' is not yet completed."
NOT_RUNNING = "The invocation '{}' is not running, cannot be paused."
NOT_FOUND = "The requested invocation '{}' does not exist"
RESUME_COMPLETED = "The invocation '{}' is completed, cannot be resumed."
RESUME_NOT_STARTED = "The invocation '{}' is either inboxed or scheduled, cannot be resumed."

_EXPECTED: dict[InvocationOp, dict[str, tuple[int, str | None]]] = {
    "cancel": {
        "scheduled": (200, None),
        "inboxed": (200, None),
        "invoked": (202, None),
        "suspended": (202, None),
        "paused": (202, None),
        "completed": (409, COMPLETED),
    },
    "kill": {
        "scheduled": (200, None),
        "inboxed": (200, None),
        "invoked": (200, None),
        "suspended": (200, None),
        "paused": (200, None),
        "completed": (409, COMPLETED),
    },
    "pause": {
        "scheduled": (409, NOT_RUNNING),
        "inboxed": (409, NOT_RUNNING),
        "invoked": (202, None),
        "suspended": (202, None),
        "paused": (200, None),
        "completed": (409, NOT_RUNNING),
    },
    "resume": {
        "scheduled": (425, RESUME_NOT_STARTED),
        "inboxed": (425, RESUME_NOT_STARTED),
        "invoked": (200, None),
        "suspended": (200, None),
        "paused": (200, None),
        "completed": (409, RESUME_COMPLETED),
    },
    "purge": {
        "scheduled": (409, NOT_COMPLETED),
        "inboxed": (409, NOT_COMPLETED),
        "invoked": (409, NOT_COMPLETED),
        "suspended": (409, NOT_COMPLETED),
        "paused": (409, NOT_COMPLETED),
        "completed": (200, None),
    },
    "purge_journal": {
        "scheduled": (409, NOT_COMPLETED),
        "inboxed": (409, NOT_COMPLETED),
        "invoked": (409, NOT_COMPLETED),
        "suspended": (409, NOT_COMPLETED),
        "paused": (409, NOT_COMPLETED),
        "completed": (200, None),
    },
}
for _by_status in _EXPECTED.values():
    _by_status["unknown"] = (404, NOT_FOUND)

CASES = [(op, status) for op, by_status in _EXPECTED.items() for status in by_status]


@pytest.mark.parametrize(("op", "status"), CASES, ids=[f"{op}-{status}" for op, status in CASES])
def test_manage_status_codes_and_messages(partition: Partition, op: InvocationOp, status: str) -> None:
    inv = STATUSES[status](partition)
    actions = partition.manage(inv, op, request_id=33)
    code, template = _EXPECTED[op][status]
    replies = of_type(actions, Reply)
    assert [r.node for r in replies] == [ADMIN]
    assert replies[0].message.request_id == 33
    assert command_result(actions) == (code, None if template is None else template.format(name_of(inv)))


# --- cancel


def test_cancel_running_appends_the_cancel_signal(partition: Partition) -> None:
    inv = started(partition)
    actions = partition.manage(inv, "cancel")
    assert command_result(actions) == (202, None)
    forward = only_forward([a for a in actions if not isinstance(a, Reply)])
    msg_type, _, notif = parse_frame(forward.frame)
    assert msg_type == T.SIGNAL
    assert isinstance(notif, pb.SignalNotificationMessage)
    assert notif.signal_id == 1 and notif.WhichOneof("result") == "void"
    status = partition.status(inv)
    assert status.status == "invoked" and status.signals == [1]
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]

    # the SDK ends the invocation itself with its own output
    partition.sdk(inv, pb.OutputCommandMessage(failure=pb.Failure(code=409, message="cancelled")))
    done = of_type(partition.apply(EndCmd(inv, partition.attempt(inv))), ReplyDone)
    assert done == [ReplyDone(sink(1), inv, Outcome(failure=Failure(409, "cancelled")))]


def test_cancel_suspended_resumes_it(partition: Partition) -> None:
    inv = suspended(partition)
    actions = partition.manage(inv, "cancel")
    assert command_result(actions) == (202, None)
    assert starts(actions) == [inv]
    assert partition.status(inv).status == "invoked"
    assert partition.journal_types(inv) == [T.INPUT, T.SLEEP, T.SIGNAL]


def test_cancel_paused_resumes_it(partition: Partition) -> None:
    inv = paused(partition)
    actions = partition.manage(inv, "cancel")
    assert command_result(actions) == (202, None)
    assert starts(actions) == [inv]
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]


def test_cancel_inboxed_forgets_it_and_keeps_the_queue(partition: Partition) -> None:
    holder = started(partition, counter_add("k"))
    cancelled = started(partition, counter_add("k"), request_id=2)
    after = started(partition, counter_add("k"), request_id=3)

    actions = partition.manage(cancelled, "cancel")
    assert command_result(actions) == (200, None)
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(2), cancelled, CANCELED)]  # the waiting caller learns it
    assert starts(actions) == []
    # like the real server, it is forgotten: no status, journal or retention timer; its output is unknown
    assert partition.tables.status(cancelled) is None
    assert partition.journal(cancelled) == []
    assert [t for t in partition.timers() if t[1] == cancelled] == []
    assert output(partition, cancelled, wait=False) == [Reply(NODE, NotFound(9))]
    assert command_result(partition.manage(cancelled, "cancel")) == (404, NOT_FOUND.format(name_of(cancelled)))
    assert partition.tables.lock_holder("Counter", "k") == holder
    assert partition.status(after).status == "inboxed"

    # the holder's completion starts the one behind the cancelled invocation
    assert starts(partition.finish(holder)) == [after]
    assert partition.tables.lock_holder("Counter", "k") == after
    assert starts(partition.finish(after)) == []
    assert partition.tables.lock_holder("Counter", "k") is None


def test_cancel_scheduled_forgets_it(partition: Partition) -> None:
    at = NOW + 10_000
    inv = started(partition, execute_at_ms=at)
    assert (at, inv, START_TIMER) in partition.timers()

    actions = partition.manage(inv, "cancel")
    assert command_result(actions) == (200, None)
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(1), inv, CANCELED)]  # the waiting caller learns it
    assert partition.timers() == []  # start and purge timers gone: like the real server, it is forgotten
    assert partition.tables.status(inv) is None
    # the start timer fires anyway (it was armed in memory before): nothing starts
    assert partition.apply(TimerFiredCmd(at, inv, START_TIMER), now_ms=at) == []
    assert partition.tables.status(inv) is None


def test_cancel_completed_or_unknown_changes_nothing(partition: Partition) -> None:
    inv = completed(partition)
    before = partition.status(inv)
    actions = partition.manage(inv, "cancel")
    assert len(actions) == 1 and command_result(actions)[0] == 409
    assert partition.status(inv) == before
    unknown = new_id()
    actions = partition.manage(unknown, "cancel")
    assert command_result(actions) == (404, NOT_FOUND.format(name_of(unknown)))
    assert partition.tables.status(unknown) is None


# --- kill


def test_kill_running_completes_it_and_starts_the_next_in_line(partition: Partition) -> None:
    holder = started(partition, counter_add("k"))
    queued = started(partition, counter_add("k"), request_id=2)
    attempt = partition.attempt(holder)

    actions = partition.manage(holder, "kill")
    assert command_result(actions) == (200, None)
    assert of_type(actions, KillAttempt) == [KillAttempt(holder)]
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(1), holder, KILLED)]
    assert starts(actions) == [queued]
    assert ArmTimer(NOW + DEFAULT_RETENTION_MS, holder, PURGE_TIMER) in actions
    status = partition.status(holder)
    assert status.status == "completed" and status.outcome == KILLED
    assert partition.tables.lock_holder("Counter", "k") == queued

    # the killed attempt's late messages and its End are void
    assert partition.apply(EndCmd(holder, attempt)) == []
    assert partition.status(holder).outcome == KILLED


@pytest.mark.parametrize("make", [suspended, paused], ids=["suspended", "paused"])
def test_kill_suspended_or_paused(partition: Partition, make: Maker) -> None:
    inv = make(partition)
    actions = partition.manage(inv, "kill")
    assert command_result(actions) == (200, None)
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(1), inv, KILLED)]
    assert starts(actions) == []
    assert partition.status(inv).outcome == KILLED


def test_kill_inboxed_or_scheduled_never_starts_them(partition: Partition) -> None:
    holder = started(partition, counter_add("k"))
    inboxed = started(partition, counter_add("k"), request_id=2)
    at = NOW + 10_000
    scheduled = started(partition, execute_at_ms=at, request_id=3)
    for inv, request_id in ((inboxed, 2), (scheduled, 3)):
        actions = partition.manage(inv, "kill")
        assert command_result(actions) == (200, None)
        assert of_type(actions, KillAttempt) == []  # nothing runs
        assert of_type(actions, ReplyDone) == [ReplyDone(sink(request_id), inv, KILLED)]
        assert partition.tables.status(inv) is None  # forgotten, as on the real server
    assert (at, scheduled, START_TIMER) not in partition.timers()
    assert starts(partition.finish(holder)) == []  # the killed one left the inbox
    assert partition.tables.lock_holder("Counter", "k") is None


def test_kill_answers_callers_too(partition: Partition) -> None:
    caller = CallerSink(new_id(), 2)
    req = request(counter_add("k"), caller=caller)
    partition.apply(InvokeCmd(req, None, True))
    actions = partition.manage(req.invocation_id, "kill")
    assert [s.message for s in shipped(actions)] == [InvocationResponse(caller, KILLED)]


# --- pause / resume


def test_pause_running_kills_the_attempt(partition: Partition) -> None:
    inv = started(partition)
    attempt = partition.attempt(inv)
    actions = partition.manage(inv, "pause")
    assert command_result(actions) == (202, None)
    assert of_type(actions, KillAttempt) == [KillAttempt(inv)]
    status = partition.status(inv)
    assert status.status == "paused" and status.outcome is None
    # messages of the dropped attempt are void
    assert partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"x"))) == []
    assert partition.apply(EndCmd(inv, attempt)) == []
    assert partition.status(inv).status == "paused"

    again = partition.manage(inv, "pause")
    assert command_result(again) == (200, None) and len(again) == 1


def test_pause_suspended_does_not_kill_and_is_not_woken_by_its_completion(partition: Partition) -> None:
    inv = suspended(partition)
    actions = partition.manage(inv, "pause")
    assert command_result(actions) == (202, None)
    assert of_type(actions, KillAttempt) == []
    assert partition.status(inv).status == "paused"
    # the sleep it awaited completes: stored, but a paused invocation is not resumed by it
    assert starts(partition.apply(TimerFiredCmd(NOW + 60_000, inv, 1))) == []
    assert partition.status(inv).status == "paused"
    assert partition.journal_types(inv) == [T.INPUT, T.SLEEP, T.SLEEP_COMPLETION]


def test_resume_paused_starts_a_new_attempt(partition: Partition) -> None:
    inv = paused(partition)
    attempt = partition.attempt(inv)
    actions = partition.manage(inv, "resume")
    assert command_result(actions) == (200, None)
    assert starts(actions) == [inv]
    status = partition.status(inv)
    assert status.status == "invoked" and status.attempt == attempt + 1

    # running already: nothing to do
    actions = partition.manage(inv, "resume")
    assert command_result(actions) == (200, None) and starts(actions) == []


def test_resume_of_manually_paused_suspended_invocation(partition: Partition) -> None:
    inv = suspended(partition)
    partition.manage(inv, "pause")
    actions = partition.manage(inv, "resume")
    assert command_result(actions) == (200, None)
    assert starts(actions) == [inv]


def test_resume_suspended_resumes_it(partition: Partition) -> None:
    """restate's OnManualResumeCommand resumes Suspended like Paused (new attempt, replay)."""
    inv = suspended(partition)
    actions = partition.manage(inv, "resume")
    assert command_result(actions) == (200, None)
    assert starts(actions) == [inv]
    assert partition.status(inv).status == "invoked"


def test_resume_inboxed_or_completed_changes_nothing(partition: Partition) -> None:
    inboxed = _make_inboxed(partition)
    assert command_result(partition.manage(inboxed, "resume"))[0] == 425
    assert partition.status(inboxed).status == "inboxed"
    done = completed(partition)
    actions = partition.manage(done, "resume")
    assert command_result(actions)[0] == 409 and len(actions) == 1


# --- purge


def test_purge_completed_forgets_it(partition: Partition) -> None:
    inv = completed(partition)
    assert partition.timers() == [(NOW + DEFAULT_RETENTION_MS, inv, PURGE_TIMER)]
    actions = partition.manage(inv, "purge")
    assert actions == [Reply(ADMIN, CommandResult(1, 200, None))]
    assert partition.tables.status(inv) is None
    assert partition.journal(inv) == []
    assert partition.timers() == []
    assert output(partition, inv, wait=False, request_id=4) == [Reply(NODE, NotFound(4))]
    assert command_result(partition.manage(inv, "purge")) == (404, NOT_FOUND.format(name_of(inv)))


def test_purge_running_is_refused(partition: Partition) -> None:
    inv = started(partition)
    assert command_result(partition.manage(inv, "purge")) == (409, NOT_COMPLETED.format(name_of(inv)))
    assert partition.status(inv).status == "invoked"
    assert partition.journal_types(inv) == [T.INPUT]


def test_purge_of_an_object_invocation_keeps_the_object_state(partition: Partition) -> None:
    inv = started(partition, counter_add("k"))
    partition.sdk(inv, pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"1")))
    partition.finish(inv)
    assert command_result(partition.manage(inv, "purge")) == (200, None)
    assert partition.state("Counter", "k") == {b"count": b"1"}


def test_purge_journal_keeps_the_status(partition: Partition) -> None:
    inv = completed(partition, b'"v"')
    assert command_result(partition.manage(inv, "purge_journal")) == (200, None)
    status = partition.status(inv)
    assert status.status == "completed" and status.outcome == Outcome(value=b'"v"')
    assert partition.journal(inv) == []
    [done] = output(partition, inv, wait=False)
    assert isinstance(done, ReplyDone) and done.outcome == Outcome(value=b'"v"')


def test_purge_journal_resets_the_journal_sizes(partition: Partition) -> None:
    """Real 1.7.12: sys_invocation.journal_size and journal_commands_size read 0 after purge-journal."""
    inv = completed(partition, b'"v"')
    before = partition.status(inv)
    assert before.journal_len == 2 and before.command_count == 1
    assert command_result(partition.manage(inv, "purge_journal")) == (200, None)
    after = partition.status(inv)
    assert after.journal_len == 0 and after.command_count == 0
    assert msgspec.structs.replace(after, journal_len=2, command_count=1) == before  # nothing else changed


def test_journal_retention_zero_resets_the_journal_sizes(tmp_path: Path) -> None:
    """Real 1.7.12 with journal_retention 0: the journal is gone at completion and both sizes read 0."""
    base = make_schema()
    greeter = msgspec.structs.replace(base.services["Greeter"], journal_retention_ms=0)
    p = Partition(tmp_path / "p", schema=msgspec.structs.replace(base, services={**base.services, "Greeter": greeter}))
    try:
        inv = completed(p)
        status = p.status(inv)
        assert status.status == "completed" and p.journal(inv) == []
        assert status.journal_len == 0 and status.command_count == 0
    finally:
        p.close()


def test_kill_of_a_send_answers_only_the_admin(partition: Partition) -> None:
    """A send has no ingress sink waiting: kill answers the admin request and nobody else."""
    req = request(GREETER)
    assert_actions(
        partition.apply(InvokeCmd(req, sink(3), send=True)),
        ReplyAccepted(sink(3), req.invocation_id, False, None),
        StartAttempt(req.invocation_id, 0),
    )
    actions = partition.manage(req.invocation_id, "kill")
    assert of_type(actions, ReplyDone) == [] and shipped(actions) == []
    assert command_result(actions) == (200, None)


def test_purge_of_a_workflow_run_clears_its_state_and_promises(partition: Partition) -> None:
    run = run_request("alice")
    partition.apply(InvokeCmd(run, sink(1)))
    inv = run.invocation_id
    partition.sdk(inv, pb.SetStateCommandMessage(key=b"stage", value=pb.Value(content=b"1")))
    done = pb.CompletePromiseCommandMessage(key="p", completion_value=pb.Value(content=b"v"), result_completion_id=1)
    partition.sdk(inv, done)
    other = run_request("bob")
    partition.apply(InvokeCmd(other, sink(2)))
    partition.sdk(other.invocation_id, pb.SetStateCommandMessage(key=b"stage", value=pb.Value(content=b"2")))
    partition.sdk(other.invocation_id, done)
    partition.finish(inv)
    assert partition.state("Signup", "alice") == {b"stage": b"1"}  # kept while the result is retained

    assert command_result(partition.manage(inv, "purge")) == (200, None)
    assert partition.tables.status(inv) is None
    assert partition.state("Signup", "alice") == {}
    assert partition.tables.promise("Signup", "alice", "p") is None
    # other keys untouched
    assert partition.state("Signup", "bob") == {b"stage": b"2"}
    assert partition.tables.promise("Signup", "bob", "p") is not None

    # the key can run again, as a new invocation
    assert_actions(
        partition.apply(InvokeCmd(run_request("alice"), sink(3))),
        StartAttempt(inv, 0),
    )


def test_purge_of_a_shared_workflow_handler_keeps_the_workflow_state(partition: Partition) -> None:
    run = run_request("alice")
    partition.apply(InvokeCmd(run, sink(1)))
    partition.sdk(run.invocation_id, pb.SetStateCommandMessage(key=b"stage", value=pb.Value(content=b"1")))
    shared = started(partition, signup_approve("alice"), request_id=2)
    partition.finish(shared)
    assert command_result(partition.manage(shared, "purge")) == (200, None)
    assert partition.state("Signup", "alice") == {b"stage": b"1"}


def test_cancel_signal_from_another_invocation_ends_inboxed_and_scheduled(partition: Partition) -> None:
    """PROTOCOL.md 8.6: SendSignal{idx 1} from a handler cancels like the admin API; queued ones end at once."""
    holder = started(partition, counter_add("k"))
    inboxed = started(partition, counter_add("k"), request_id=2)
    at = NOW + 10_000
    scheduled = started(partition, execute_at_ms=at, request_id=3)

    actions = partition.apply(OutboxCmd(1, 1, Signal(inboxed, 1)))
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(2), inboxed, CANCELED)]
    actions = partition.apply(OutboxCmd(1, 2, Signal(scheduled, 1)))
    assert of_type(actions, ReplyDone) == [ReplyDone(sink(3), scheduled, CANCELED)]
    assert (at, scheduled, START_TIMER) not in partition.timers()
    assert partition.tables.status(scheduled) is None  # a cancelled delayed invocation is forgotten
    assert partition.tables.status(inboxed) is None  # and so is an inboxed one
    assert starts(partition.finish(holder)) == []
