"""Requests from ingress/admin about existing invocations: output/attach and awakeable resolution."""

from __future__ import annotations

from restate.partition.actions import Reply, ReplyDone, StartAttempt
from restate.partition.commands import EndCmd
from restate.protocol import pb
from restate.schema import DEFAULT_RETENTION_MS
from restate.wire import (
    Done,
    Failure,
    IngressSink,
    NotFound,
    NotReady,
    Outcome,
)
from tests.unit.partition.harness import (
    NOW,
    Partition,
    assert_actions,
    counter_add,
    future,
    new_id,
    of_type,
    only_forward,
    parse_frame,
    sink,
)
from tests.unit.partition.request_helpers import (
    NODE,
    T,
    completed,
    output,
    resolve,
    sleep_on,
    started,
    suspended,
)

# --- output / attach requests


def test_output_of_an_unknown_invocation_is_not_found(partition: Partition) -> None:
    for wait in (False, True):
        assert output(partition, new_id(), wait, request_id=4) == [Reply(NODE, NotFound(4))]


def test_output_of_a_running_invocation_is_not_ready(partition: Partition) -> None:
    inv = started(partition)
    assert output(partition, inv, wait=False, request_id=4) == [Reply(NODE, NotReady(4, inv))]
    assert partition.status(inv).ingress_sinks == [sink(1)]  # nobody was attached


def test_output_of_a_scheduled_or_inboxed_invocation_is_not_ready(partition: Partition) -> None:
    scheduled = started(partition, execute_at_ms=NOW + 10_000)
    started(partition, counter_add("k"))
    inboxed = started(partition, counter_add("k"), request_id=2)
    assert partition.status(inboxed).status == "inboxed"
    for inv in (scheduled, inboxed):
        assert output(partition, inv, wait=False, request_id=4) == [Reply(NODE, NotReady(4, inv))]


def test_attach_to_a_running_invocation_answers_at_completion(partition: Partition) -> None:
    inv = started(partition)
    assert output(partition, inv, wait=True, request_id=4) == []
    attached = IngressSink(NODE, 4)
    assert partition.status(inv).ingress_sinks == [sink(1), attached]
    assert output(partition, inv, wait=True, request_id=4) == []  # the same request again: attached once
    assert partition.status(inv).ingress_sinks == [sink(1), attached]

    later = NOW + 5_000
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b'"hi"')))
    actions = partition.apply(EndCmd(inv, partition.attempt(inv)), now_ms=later)
    expires = later + DEFAULT_RETENTION_MS
    assert of_type(actions, ReplyDone) == [
        ReplyDone(sink(1), inv, Outcome(value=b'"hi"')),  # the original caller: not replayed, no expiry
        ReplyDone(attached, inv, Outcome(value=b'"hi"')),  # attached while running: a live answer too
    ]
    assert partition.status(inv).expires_at_ms == expires


def test_attach_to_a_suspended_invocation_does_not_resume_it(partition: Partition) -> None:
    inv = suspended(partition)
    assert output(partition, inv, wait=True, request_id=4) == []
    assert partition.status(inv).status == "suspended"


def test_output_of_a_completed_invocation_is_replayed_with_its_expiry(partition: Partition) -> None:
    inv = completed(partition, b'"done"')
    expires = NOW + DEFAULT_RETENTION_MS
    for wait in (False, True):
        actions = output(partition, inv, wait=wait, request_id=4)
        assert actions == [ReplyDone(IngressSink(NODE, 4), inv, Outcome(value=b'"done"'), expires, True)]
    assert partition.status(inv).ingress_sinks == []  # nothing left waiting


def test_output_of_a_failed_invocation_replays_the_failure(partition: Partition) -> None:
    inv = started(partition)
    failure = Failure(418, "nope", [("k", "v")])
    meta = [pb.FailureMetadata(key="k", value="v")]
    partition.sdk(inv, pb.OutputCommandMessage(failure=pb.Failure(code=418, message="nope", metadata=meta)))
    partition.apply(EndCmd(inv, partition.attempt(inv)))
    [done] = output(partition, inv, wait=False, request_id=4)
    assert isinstance(done, ReplyDone)
    assert done.outcome == Outcome(failure=failure) and done.replayed


# --- awakeables


def test_resolve_awakeable_of_a_running_invocation_is_forwarded(partition: Partition) -> None:
    inv = started(partition)
    actions = resolve(partition, inv, 17, Outcome(value=b'"yes"'), request_id=5)
    assert Reply(NODE, Done(5)) in actions
    forward = only_forward([a for a in actions if not isinstance(a, Reply)])
    assert forward.index == 1
    msg_type, _, notif = parse_frame(forward.frame)
    assert msg_type == T.SIGNAL
    assert isinstance(notif, pb.SignalNotificationMessage)
    assert notif.signal_id == 17 and notif.value.content == b'"yes"'
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]
    assert partition.status(inv).signals == [17]


def test_reject_awakeable_appends_a_failure(partition: Partition) -> None:
    inv = started(partition)
    resolve(partition, inv, 18, Outcome(failure=Failure(500, "rejected")))
    _, notif = partition.journal(inv)[1]
    assert isinstance(notif, pb.SignalNotificationMessage)
    assert notif.signal_id == 18 and notif.WhichOneof("result") == "failure"
    assert (notif.failure.code, notif.failure.message) == (500, "rejected")


def test_resolve_awakeable_resumes_a_suspended_invocation_awaiting_it(partition: Partition) -> None:
    inv = started(partition)
    partition.suspend_v6(inv, completions=[], signals=[1, 17])
    actions = resolve(partition, inv, 17, Outcome(value=b"1"), request_id=5)
    assert_actions(actions, StartAttempt(inv, 0), Reply(NODE, Done(5)))
    assert partition.status(inv).status == "invoked"
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]


def test_resolve_awakeable_not_awaited_keeps_the_invocation_suspended(partition_v7: Partition) -> None:
    p = partition_v7
    inv = started(p)
    sleep_on(p, inv)
    p.suspend(inv, future(pb.Future.FIRST_COMPLETED, completions=(1,)))
    assert resolve(p, inv, 17, Outcome(value=b"1"), request_id=5) == [Reply(NODE, Done(5))]
    status = p.status(inv)
    assert status.status == "suspended" and status.signals == [17]
    assert p.journal_types(inv) == [T.INPUT, T.SLEEP, T.SIGNAL]


def test_resolve_awakeable_is_always_answered_done(partition: Partition) -> None:
    assert resolve(partition, new_id(), 17, Outcome(value=b"1"), request_id=5) == [Reply(NODE, Done(5))]
    done = completed(partition)
    assert resolve(partition, done, 17, Outcome(value=b"1"), request_id=6) == [Reply(NODE, Done(6))]
    assert partition.status(done).signals == []

    # resolving twice: the second is dropped, and still answered
    inv = started(partition)
    resolve(partition, inv, 17, Outcome(value=b"1"))
    assert resolve(partition, inv, 17, Outcome(value=b"2"), request_id=7) == [Reply(NODE, Done(7))]
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]
