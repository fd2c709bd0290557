"""Creating, re-sending, completing, failing, scheduling and purging invocations."""

from __future__ import annotations

from pathlib import Path

from restate.partition.actions import ArmTimer, ReplyAccepted, ReplyDone, StartAttempt
from restate.partition.commands import AttemptFailedCmd, EndCmd, InvokeCmd, TimerFiredCmd
from restate.partition.lifecycle import PURGE_TIMER, START_TIMER
from restate.protocol import MessageType, pb
from restate.schema import DEFAULT_RETENTION_MS
from restate.storage import keys
from restate.wire import Failure, Outcome
from tests.unit.partition.harness import DEPLOYMENT_ID, NOW, Partition, assert_actions, make_schema, request, sink

T = MessageType


def _started(p: Partition, **kw: object) -> bytes:
    req = request(**kw)  # type: ignore[arg-type]
    p.apply(InvokeCmd(req, sink()))
    return req.invocation_id


def test_invoke_service_stores_input_and_starts(partition: Partition) -> None:
    req = request(input=b'"world"', headers=[("content-type", "application/json"), ("x-a", "1")])
    inv = req.invocation_id
    actions = partition.apply(InvokeCmd(req, sink(7)))

    assert_actions(actions, StartAttempt(inv, 0))  # a call gets no Accepted: its result answers it
    status = partition.status(inv)
    assert status.status == "invoked"
    assert status.target == req.target
    assert status.ingress_sinks == [sink(7)]
    assert status.journal_len == 1
    assert status.created_at_ms == NOW and status.modified_at_ms == NOW
    assert status.deployment_id == DEPLOYMENT_ID
    assert status.protocol_version == 6

    [(msg_type, entry)] = partition.journal(inv)
    assert msg_type == T.INPUT
    assert isinstance(entry, pb.InputCommandMessage)
    assert [(h.key, h.value) for h in entry.headers] == [("content-type", "application/json"), ("x-a", "1")]
    assert entry.HasField("value")
    assert entry.value.content == b'"world"'


def test_empty_input_still_has_a_value(partition: Partition) -> None:
    inv = _started(partition)
    [(_, entry)] = partition.journal(inv)
    assert isinstance(entry, pb.InputCommandMessage)
    assert entry.HasField("value") and entry.value.content == b""


def test_protocol_v7_is_pinned_when_enabled(partition_v7: Partition) -> None:
    inv = _started(partition_v7)
    status = partition_v7.status(inv)
    assert status.deployment_id == DEPLOYMENT_ID
    assert status.protocol_version == 7


def test_no_common_protocol_version_leaves_the_deployment_unpinned(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p", schema=make_schema(min_version=7, max_version=7))
    try:
        inv = _started(p)
        status = p.status(inv)
        assert status.status == "invoked"
        assert status.deployment_id is None and status.protocol_version is None
    finally:
        p.close()


def test_send_replies_accepted_without_keeping_the_sink(partition: Partition) -> None:
    req = request()
    actions = partition.apply(InvokeCmd(req, sink(3), send=True))
    assert_actions(actions, ReplyAccepted(sink(3), req.invocation_id, False, None), StartAttempt(req.invocation_id, 0))
    assert partition.status(req.invocation_id).ingress_sinks == []


def test_resent_invoke_is_accepted_again_and_sink_not_duplicated(partition: Partition) -> None:
    req = request()
    inv = req.invocation_id
    partition.apply(InvokeCmd(req, sink(1)))

    again = partition.apply(InvokeCmd(req, sink(1)))
    assert again == [ReplyAccepted(sink(1), inv, False, None)]  # a re-send is answered as the original was
    assert partition.status(inv).ingress_sinks == [sink(1)]
    assert len(partition.journal(inv)) == 1  # no second Input, no second attempt

    other = partition.apply(InvokeCmd(req, sink(2)))
    assert other == [ReplyAccepted(sink(2), inv, True, None)]
    attached = sink(2)  # joined an existing invocation
    assert partition.status(inv).ingress_sinks == [sink(1), attached]

    # both are answered once the invocation completes
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"ok")))
    done = partition.apply(EndCmd(inv, partition.attempt(inv)))
    replies = [a for a in done if isinstance(a, ReplyDone)]
    assert replies == [
        ReplyDone(sink(1), inv, Outcome(value=b"ok")),  # the original request: a live answer
        ReplyDone(attached, inv, Outcome(value=b"ok")),  # a live answer: no expiry, not replayed
    ]


def test_invoke_after_completion_gets_the_result_at_once(partition: Partition) -> None:
    req = request()
    inv = req.invocation_id
    partition.apply(InvokeCmd(req, sink(1)))
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"42")))
    partition.apply(EndCmd(inv, partition.attempt(inv)))

    actions = partition.apply(InvokeCmd(req, sink(9)))
    expires = partition.status(inv).expires_at_ms
    replayed_sink = sink(9)
    assert_actions(
        actions,
        ReplyAccepted(sink(9), inv, True, None),
        ReplyDone(replayed_sink, inv, Outcome(value=b"42"), expires, True),
    )
    assert partition.status(inv).ingress_sinks == []

    # a send (fire-and-forget) only gets the acceptance
    assert partition.apply(InvokeCmd(req, sink(10), send=True)) == [ReplyAccepted(sink(10), inv, True, None)]


def test_output_and_end_complete_the_invocation(partition: Partition) -> None:
    inv = _started(partition)
    assert partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b'"hi"'))) == []
    assert partition.journal_types(inv) == [T.INPUT, T.OUTPUT]
    assert partition.status(inv).command_count == 1  # Input is written by the server

    actions = partition.apply(EndCmd(inv, partition.attempt(inv)), now_ms=NOW + 5)
    outcome = Outcome(value=b'"hi"')
    assert_actions(actions, ReplyDone(sink(), inv, outcome), ArmTimer(NOW + 5 + DEFAULT_RETENTION_MS, inv, PURGE_TIMER))
    status = partition.status(inv)
    assert status.status == "completed"
    assert status.outcome == outcome
    assert status.pending_output is None
    assert status.ingress_sinks == []
    # the journal is kept for the journal retention (introspection) and dropped with the purge
    assert status.journal_len == 2 and len(list(partition.store.scan(keys.journal_prefix(inv)))) == 2
    assert partition.timers() == [(NOW + 5 + DEFAULT_RETENTION_MS, inv, PURGE_TIMER)]
    partition.apply(TimerFiredCmd(NOW + 5 + DEFAULT_RETENTION_MS, inv, PURGE_TIMER))
    assert list(partition.store.scan(keys.journal_prefix(inv))) == []


def test_the_last_output_wins(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"first")))
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"second")))
    actions = partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert ReplyDone(sink(), inv, Outcome(value=b"second")) in actions


def test_failure_output_completes_with_code_and_metadata(partition: Partition) -> None:
    inv = _started(partition)
    failure = pb.Failure(code=418, message="nope", metadata=[pb.FailureMetadata(key="k", value="v")])
    partition.sdk(inv, pb.OutputCommandMessage(failure=failure))
    actions = partition.apply(EndCmd(inv, partition.attempt(inv)))
    expected = Outcome(failure=Failure(418, "nope", [("k", "v")]))
    assert ReplyDone(sink(), inv, expected) in actions
    assert partition.status(inv).outcome == expected


def test_end_without_output_completes_with_an_empty_value(partition: Partition) -> None:
    inv = _started(partition)
    actions = partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert ReplyDone(sink(), inv, Outcome(value=b"")) in actions
    assert partition.status(inv).status == "completed"


def test_end_of_unknown_or_completed_invocation_is_ignored(partition: Partition) -> None:
    inv = _started(partition)
    partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert partition.apply(EndCmd(inv, partition.attempt(inv))) == []
    assert partition.apply(EndCmd(b"\x00" * 24, partition.attempt(b"\x00" * 24))) == []


def test_messages_after_completion_are_ignored(partition: Partition) -> None:
    inv = _started(partition)
    partition.apply(EndCmd(inv, partition.attempt(inv)))
    before = partition.journal(inv)
    assert partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"late"))) == []
    assert partition.journal(inv) == before  # nothing appended


def test_attempt_failed_retries_with_delay(partition: Partition) -> None:
    inv = _started(partition)
    actions = partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "boom"), retry_in_ms=250))
    assert actions == [StartAttempt(inv, 250)]
    status = partition.status(inv)
    assert status.status == "invoked"
    assert status.retry_count == 1
    assert status.last_failure == "[500] boom"

    partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(503, "again"), retry_in_ms=500))
    status = partition.status(inv)
    assert status.retry_count == 2
    assert status.last_failure == "[503] again"
    assert len(partition.journal(inv)) == 1  # the journal survives attempts


def test_last_failure_carries_the_sdks_stack_trace(partition: Partition) -> None:
    inv = _started(partition)
    failure = Failure(500, "Exception('boom')", [], 'Traceback (most recent call last):\n  File "app.py", line 3')
    partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), failure, retry_in_ms=250))
    last = partition.status(inv).last_failure
    assert last == "[500] Exception('boom')\nTraceback (most recent call last):\n  File \"app.py\", line 3"


def test_attempt_failed_give_up_kill_completes_with_the_failure(partition: Partition) -> None:
    inv = _started(partition)
    failure = Failure(500, "exhausted")
    actions = partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), failure, retry_in_ms=None, give_up="kill"))
    assert ReplyDone(sink(), inv, Outcome(failure=failure)) in actions
    status = partition.status(inv)
    assert status.status == "completed"
    assert status.outcome == Outcome(failure=failure)


def test_attempt_failed_give_up_pause_parks_the_invocation(partition: Partition) -> None:
    inv = _started(partition)
    actions = partition.apply(
        AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "exhausted"), retry_in_ms=None, give_up="pause")
    )
    assert actions == []
    status = partition.status(inv)
    assert status.status == "paused"
    assert status.retry_count == 1
    assert status.ingress_sinks == [sink()]  # still waiting for the result
    # a paused invocation ignores a late failure report
    assert partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "x"), retry_in_ms=10)) == []


def test_scheduled_invoke_waits_for_its_timer(partition: Partition) -> None:
    at = NOW + 60_000
    req = request(execute_at_ms=at)
    inv = req.invocation_id
    actions = partition.apply(InvokeCmd(req, sink(), send=True))  # only sends can be delayed
    assert_actions(actions, ArmTimer(at, inv, START_TIMER), ReplyAccepted(sink(), inv, False, at))
    status = partition.status(inv)
    assert status.status == "scheduled"
    assert status.execute_at_ms == at
    assert status.journal_len == 1
    assert partition.timers() == [(at, inv, START_TIMER)]

    fired = partition.apply(TimerFiredCmd(at, inv, START_TIMER), now_ms=at)
    assert fired == [StartAttempt(inv, 0)]
    status = partition.status(inv)
    assert status.status == "invoked"
    assert status.execute_at_ms is None
    assert status.deployment_id == DEPLOYMENT_ID
    assert partition.timers() == []
    # fired again (e.g. replayed after a restart): nothing happens
    assert partition.apply(TimerFiredCmd(at, inv, START_TIMER), now_ms=at) == []


def test_execute_at_in_the_past_runs_now(partition: Partition) -> None:
    req = request(execute_at_ms=NOW - 1)
    actions = partition.apply(InvokeCmd(req, sink(), send=True))
    assert_actions(actions, StartAttempt(req.invocation_id, 0), ReplyAccepted(sink(), req.invocation_id, False, None))
    assert partition.status(req.invocation_id).execute_at_ms is None
    assert partition.timers() == []


def test_purge_timer_deletes_the_completed_status(partition: Partition) -> None:
    inv = _started(partition)
    [arm] = [a for a in partition.apply(EndCmd(inv, partition.attempt(inv))) if isinstance(a, ArmTimer)]
    assert arm.completion_id == PURGE_TIMER
    assert partition.apply(TimerFiredCmd(arm.wake_up_ms, inv, PURGE_TIMER), now_ms=arm.wake_up_ms) == []
    assert partition.tables.status(inv) is None
    assert partition.timers() == []


def test_purge_timer_keeps_an_invocation_that_is_not_completed(partition: Partition) -> None:
    inv = _started(partition)
    txn = partition.store.transaction()  # a stray purge timer for a running invocation
    txn.put(keys.timer_key(NOW + 1, inv, PURGE_TIMER), b"")
    txn.commit()
    partition.apply(TimerFiredCmd(NOW + 1, inv, PURGE_TIMER))
    assert partition.status(inv).status == "invoked"
