"""Attaching to invocations: requests for an existing id (re-sent requests, repeated idempotency keys, workflow
runs), AttachInvocation / GetInvocationOutput commands from handlers, and their answers across partitions."""

from __future__ import annotations

from pathlib import Path

from restate import ids
from restate.partition.actions import AbortAttempt, AckOutbox, ForwardEntry, ReplyAccepted, ReplyDone, StartAttempt
from restate.partition.commands import EndCmd, InvokeCmd, OutboxCmd
from restate.protocol import MessageType, pb
from restate.schema import DEFAULT_RETENTION_MS
from restate.wire import (
    ATTACH_COMPLETION,
    CALL_COMPLETION,
    GET_OUTPUT_COMPLETION,
    AttachOutput,
    CallerSink,
    Failure,
    IngressSink,
    InvocationRequest,
    InvocationResponse,
    Outcome,
)
from tests.unit.partition.harness import (
    GREETER,
    NOW,
    NUM_PARTITIONS,
    Partition,
    assert_actions,
    counter_add,
    new_id,
    of_type,
    parse_frame,
    request,
    run_request,
    shipped,
    signup_approve,
    signup_run,
    sink,
    the_forward,
)

T = MessageType
ALREADY_INVOKED = Outcome(failure=Failure(409, "the workflow method was already invoked"))


def _started(p: Partition, target=GREETER, request_id: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    req = request(target)
    p.apply(InvokeCmd(req, sink(request_id)))
    return req.invocation_id


def _destination(inv: bytes) -> int:
    return ids.partition_for(ids.InvocationId.from_bytes(inv).partition_key, NUM_PARTITIONS)


# --- workflow run: at most once per key


def test_workflow_run_gets_the_deterministic_run_id() -> None:
    run = ids.workflow_run_id("Signup", "alice")
    assert run == ids.workflow_run_id("Signup", "alice")
    assert run.partition_key == ids.partition_key_for("alice")
    assert run != ids.workflow_run_id("Signup", "bob")
    assert run != ids.workflow_run_id("Other", "alice")
    assert run_request("alice").invocation_id == run.to_bytes()


def test_second_call_of_a_workflow_run_fails_with_409(partition: Partition) -> None:
    req = run_request("alice")
    run = req.invocation_id
    assert_actions(
        partition.apply(InvokeCmd(req, sink(1))),
        StartAttempt(run),  # a call is answered by its result
    )

    actions = partition.apply(InvokeCmd(run_request("alice", b"other input"), sink(2)))
    assert actions == [ReplyAccepted(sink(2), run, True, None), ReplyDone(sink(2), run, ALREADY_INVOKED, None, True)]
    status = partition.status(run)
    assert status.ingress_sinks == [sink(1)]  # the second caller is not attached
    assert status.attempt == 1
    assert partition.journal_types(run) == [T.INPUT]

    # the first caller still gets the run's result
    assert of_type(partition.finish(run, b'"ok"'), ReplyDone) == [ReplyDone(sink(1), run, Outcome(value=b'"ok"'))]
    # and a call after completion still gets 409, not the result
    actions = partition.apply(InvokeCmd(run_request("alice"), sink(3)))
    assert actions == [ReplyAccepted(sink(3), run, True, None), ReplyDone(sink(3), run, ALREADY_INVOKED, None, True)]


def test_resent_workflow_run_request_is_only_accepted(partition: Partition) -> None:
    req = run_request("alice")
    partition.apply(InvokeCmd(req, sink(1)))
    assert partition.apply(InvokeCmd(req, sink(1))) == [ReplyAccepted(sink(1), req.invocation_id, False, None)]
    assert partition.status(req.invocation_id).ingress_sinks == [sink(1)]


def test_workflow_run_send_is_previously_accepted(partition: Partition) -> None:
    req = run_request("alice")
    partition.apply(InvokeCmd(req, sink(1), send=True))
    actions = partition.apply(InvokeCmd(run_request("alice"), sink(2), send=True))
    assert actions == [ReplyAccepted(sink(2), req.invocation_id, True, None)]
    assert partition.status(req.invocation_id).ingress_sinks == []


def test_workflow_run_called_again_by_a_handler_fails_with_409(partition: Partition) -> None:
    """PROTOCOL.md 8.7: a second run gets 409, whoever sends it. restate answers every response sink of a
    duplicate workflow run (ingress or calling invocation) with WORKFLOW_ALREADY_INVOKED."""
    req = run_request("alice")
    partition.apply(InvokeCmd(req, sink(1)))
    caller = CallerSink(new_id(), 2)
    actions = partition.apply(OutboxCmd(1, 1, run_request("alice", caller=caller)))
    assert [s.message for s in shipped(actions)] == [InvocationResponse(caller, ALREADY_INVOKED)]
    assert partition.status(req.invocation_id).callers == []


def test_shared_workflow_handlers_are_not_deduplicated(partition: Partition) -> None:
    run = run_request("alice")
    partition.apply(InvokeCmd(run, sink(1)))
    a = request(signup_approve("alice"))
    b = request(signup_approve("alice"))
    assert StartAttempt(a.invocation_id) in partition.apply(InvokeCmd(a, sink(2)))
    assert StartAttempt(b.invocation_id) in partition.apply(InvokeCmd(b, sink(3)))


def test_call_to_a_workflow_run_uses_the_run_id(partition: Partition) -> None:
    caller = _started(partition)
    call = pb.CallCommandMessage(
        service_name="Signup", handler_name="run", key="alice", invocation_id_notification_idx=1, result_completion_id=2
    )
    [ship] = shipped(partition.sdk(caller, call))
    assert isinstance(ship.message, InvocationRequest)
    run_id = ids.workflow_run_id("Signup", "alice").to_bytes()
    assert ship.message.invocation_id == run_id
    assert ship.message.target == signup_run("alice")
    assert ship.destination == _destination(run_id)
    _, notif = partition.journal(caller)[2]
    assert isinstance(notif, pb.CallInvocationIdCompletionNotificationMessage)
    assert notif.invocation_id == str(ids.workflow_run_id("Signup", "alice"))

    # a one-way call and an idempotency key give the same run id
    send = pb.OneWayCallCommandMessage(
        service_name="Signup", handler_name="run", key="alice", idempotency_key="x", invocation_id_notification_idx=3
    )
    [ship] = shipped(partition.sdk(caller, send))
    assert isinstance(ship.message, InvocationRequest) and ship.message.invocation_id == run_id

    # a shared handler of the workflow is an ordinary call
    approve = pb.CallCommandMessage(
        service_name="Signup",
        handler_name="approve",
        key="alice",
        invocation_id_notification_idx=4,
        result_completion_id=5,
    )
    [ship] = shipped(partition.sdk(caller, approve))
    assert isinstance(ship.message, InvocationRequest)
    assert ship.message.invocation_id != run_id
    assert ship.message.target == signup_approve("alice")
    assert ids.InvocationId.from_bytes(ship.message.invocation_id).partition_key == ids.partition_key_for("alice")


# --- re-sent requests and repeated idempotency keys (not workflows)


def test_resent_request_is_only_accepted(partition: Partition) -> None:
    req = request(GREETER, idempotency_key="i")
    partition.apply(InvokeCmd(req, sink(1)))
    assert partition.apply(InvokeCmd(req, sink(1))) == [ReplyAccepted(sink(1), req.invocation_id, False, None)]
    assert partition.status(req.invocation_id).ingress_sinks == [sink(1)]


def test_a_resent_call_of_a_completed_invocation_gets_its_outcome_replayed(partition: Partition) -> None:
    # The answer was lost: the partition died after the outcome became durable (or a new cluster leader
    # applied it while catching up); the ingress re-sends the call with the same request id.
    req = request(counter_add("k"))
    inv = req.invocation_id
    partition.apply(InvokeCmd(req, sink(1)))
    later = NOW + 1_000
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"5")))
    assert of_type(partition.apply(EndCmd(inv, partition.attempt(inv)), now_ms=later), ReplyDone) == [
        ReplyDone(sink(1), inv, Outcome(value=b"5"))
    ]
    assert partition.apply(InvokeCmd(req, sink(1))) == [
        ReplyAccepted(sink(1), inv, False, None),
        ReplyDone(IngressSink("ingress-0", 1), inv, Outcome(value=b"5"), later + DEFAULT_RETENTION_MS, True),
    ]


def test_a_resent_send_of_a_completed_invocation_is_only_accepted(partition: Partition) -> None:
    req = request(counter_add("k"))
    inv = req.invocation_id
    partition.apply(InvokeCmd(req, sink(1), send=True))
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"5")))
    partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert partition.apply(InvokeCmd(req, sink(1), send=True)) == [ReplyAccepted(sink(1), inv, False, None)]


def test_repeated_idempotent_call_attaches_and_gets_the_result_replayed(partition: Partition) -> None:
    req = request(counter_add("k"), idempotency_key="i")
    inv = req.invocation_id
    partition.apply(InvokeCmd(req, sink(1)))
    assert partition.apply(InvokeCmd(req, sink(2))) == [ReplyAccepted(sink(2), inv, True, None)]
    attached = IngressSink("ingress-0", 2)
    assert partition.status(inv).ingress_sinks == [sink(1), attached]

    later = NOW + 1_000
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"5")))
    done = of_type(partition.apply(EndCmd(inv, partition.attempt(inv)), now_ms=later), ReplyDone)
    assert done == [
        ReplyDone(sink(1), inv, Outcome(value=b"5")),
        ReplyDone(attached, inv, Outcome(value=b"5")),  # live: no expiry
    ]
    # after completion: replayed at once
    assert partition.apply(InvokeCmd(req, sink(3))) == [
        ReplyAccepted(sink(3), inv, True, None),
        ReplyDone(IngressSink("ingress-0", 3), inv, Outcome(value=b"5"), later + DEFAULT_RETENTION_MS, True),
    ]


# --- AttachInvocation / GetInvocationOutput commands


def _attach_cmd(cid: int = 1, **target: object) -> pb.AttachInvocationCommandMessage:
    return pb.AttachInvocationCommandMessage(result_completion_id=cid, **target)  # type: ignore[arg-type]


def _output_cmd(cid: int = 1, **target: object) -> pb.GetInvocationOutputCommandMessage:
    return pb.GetInvocationOutputCommandMessage(result_completion_id=cid, **target)  # type: ignore[arg-type]


def test_attach_command_ships_attach_output_to_the_target_partition(partition: Partition) -> None:
    caller = _started(partition)
    target = ids.InvocationId(ids.partition_key_for("far-away"), b"\x07" * 16)
    actions = partition.sdk(caller, _attach_cmd(3, invocation_id=str(target)))
    [ship] = shipped(actions)
    assert ship.destination == _destination(target.to_bytes())
    assert ship.message == AttachOutput(target.to_bytes(), CallerSink(caller, 3, ATTACH_COMPLETION))
    assert ATTACH_COMPLETION == 0x8012 == T.ATTACH_INVOCATION_COMPLETION
    assert list(partition.outbox()) == [(ship.destination, ship.seq, ship.message)]
    assert partition.journal_types(caller) == [T.INPUT, T.ATTACH_INVOCATION]  # nothing to notify yet
    assert of_type(actions, ForwardEntry) == []


def test_get_output_command_ships_with_its_own_kind(partition: Partition) -> None:
    caller = _started(partition)
    target = ids.InvocationId.from_bytes(new_id())
    [ship] = shipped(partition.sdk(caller, _output_cmd(4, invocation_id=str(target))))
    assert ship.message == AttachOutput(target.to_bytes(), CallerSink(caller, 4, GET_OUTPUT_COMPLETION))
    assert GET_OUTPUT_COMPLETION == 0x8013 == T.GET_INVOCATION_OUTPUT_COMPLETION
    assert partition.journal_types(caller) == [T.INPUT, T.GET_INVOCATION_OUTPUT]


def test_attach_targets_an_idempotent_request(partition: Partition) -> None:
    caller = _started(partition)
    keyed = pb.IdempotentRequestTarget(service_name="Counter", service_key="k", handler_name="add", idempotency_key="i")
    [ship] = shipped(partition.sdk(caller, _attach_cmd(1, idempotent_request_target=keyed)))
    assert isinstance(ship.message, AttachOutput)
    expected = ids.idempotent_id("Counter", "k", "add", "i")
    assert ship.message.invocation_id == expected.to_bytes()
    assert expected.partition_key == ids.partition_key_for("k")
    # the same id the ingress gives a request with that idempotency key
    assert expected == ids.InvocationId.deterministic(ids.partition_key_for("k"), "Counter", "k", "add", "i")

    plain = pb.IdempotentRequestTarget(service_name="Greeter", handler_name="greet", idempotency_key="j")
    [ship] = shipped(partition.sdk(caller, _output_cmd(2, idempotent_request_target=plain)))
    assert isinstance(ship.message, AttachOutput)
    expected = ids.idempotent_id("Greeter", None, "greet", "j")
    assert ship.message.invocation_id == expected.to_bytes()
    assert expected.partition_key == ids.partition_key_for("j")


def test_attach_targets_a_workflow_run(partition: Partition) -> None:
    caller = _started(partition)
    wf = pb.WorkflowTarget(workflow_name="Signup", workflow_key="alice")
    [ship] = shipped(partition.sdk(caller, _attach_cmd(1, workflow_target=wf)))
    assert isinstance(ship.message, AttachOutput)
    assert ship.message.invocation_id == ids.workflow_run_id("Signup", "alice").to_bytes()
    assert ship.message.caller == CallerSink(caller, 1, ATTACH_COMPLETION)


def test_attach_with_a_bad_or_missing_target_aborts(partition: Partition) -> None:
    caller = _started(partition)
    [abort] = partition.sdk(caller, _attach_cmd(1, invocation_id="inv_bogus"))
    assert isinstance(abort, AbortAttempt)
    caller = _started(partition)
    [abort] = partition.sdk(caller, _output_cmd(1))
    assert isinstance(abort, AbortAttempt)
    assert partition.journal_types(caller) == [T.INPUT]
    assert list(partition.outbox()) == []


# --- the target's partition answers AttachOutput


def test_attach_output_for_an_unknown_invocation_is_404(partition: Partition) -> None:
    for seq, kind in ((1, ATTACH_COMPLETION), (2, GET_OUTPUT_COMPLETION)):
        caller = CallerSink(new_id(), 3, kind)
        actions = partition.apply(OutboxCmd(1, seq, AttachOutput(new_id(), caller)))
        assert AckOutbox(1, seq) in actions
        [ship] = shipped(actions)
        assert ship.message == InvocationResponse(caller, Outcome(failure=Failure(404, "not found")))
        assert ship.destination == _destination(caller.invocation_id)


def test_get_output_of_a_running_invocation_is_void(partition: Partition) -> None:
    target = _started(partition)
    caller = CallerSink(new_id(), 3, GET_OUTPUT_COMPLETION)
    [ship] = shipped(partition.apply(OutboxCmd(1, 1, AttachOutput(target, caller))))
    assert ship.message == InvocationResponse(caller, Outcome())
    assert partition.status(target).callers == []  # not waiting


def test_attach_to_a_running_invocation_answers_at_completion(partition: Partition) -> None:
    target = _started(partition)
    caller = CallerSink(new_id(), 3, ATTACH_COMPLETION)
    assert shipped(partition.apply(OutboxCmd(1, 1, AttachOutput(target, caller)))) == []
    assert partition.status(target).callers == [caller]
    partition.apply(OutboxCmd(1, 2, AttachOutput(target, caller)))  # the same caller again: once
    assert partition.status(target).callers == [caller]

    [ship] = shipped(partition.finish(target, b'"r"'))
    assert ship.message == InvocationResponse(caller, Outcome(value=b'"r"'))


def test_attach_or_get_output_of_a_completed_invocation_answers_at_once(partition: Partition) -> None:
    target = _started(partition)
    partition.finish(target, b'"r"')
    for seq, kind in ((1, ATTACH_COMPLETION), (2, GET_OUTPUT_COMPLETION)):
        caller = CallerSink(new_id(), 3, kind)
        [ship] = shipped(partition.apply(OutboxCmd(1, seq, AttachOutput(target, caller))))
        assert ship.message == InvocationResponse(caller, Outcome(value=b'"r"'))


def test_attach_does_not_count_as_a_second_workflow_run(partition: Partition) -> None:
    run = run_request("alice")
    partition.apply(InvokeCmd(run, sink(1)))
    caller = CallerSink(new_id(), 3, ATTACH_COMPLETION)
    assert shipped(partition.apply(OutboxCmd(1, 1, AttachOutput(run.invocation_id, caller)))) == []
    [ship] = shipped(partition.finish(run.invocation_id, b'"ok"'))
    assert ship.message == InvocationResponse(caller, Outcome(value=b'"ok"'))


# --- the caller's partition turns the answer into a notification


def test_attach_answer_becomes_an_attach_completion(partition: Partition) -> None:
    caller = _started(partition)
    target = ids.InvocationId.from_bytes(new_id())
    partition.sdk(caller, _attach_cmd(1, invocation_id=str(target)))
    partition.suspend_v6(caller, completions=[1], signals=[1])

    response = InvocationResponse(CallerSink(caller, 1, ATTACH_COMPLETION), Outcome(value=b'"r"'))
    actions = partition.apply(OutboxCmd(2, 1, response))
    assert StartAttempt(caller, 0) in actions
    assert partition.journal_types(caller) == [T.INPUT, T.ATTACH_INVOCATION, T.ATTACH_INVOCATION_COMPLETION]
    _, notif = partition.journal(caller)[2]
    assert isinstance(notif, pb.AttachInvocationCompletionNotificationMessage)
    assert notif.completion_id == 1 and notif.value.content == b'"r"'


def test_get_output_answers_become_get_output_completions(partition: Partition) -> None:
    caller = _started(partition)
    target = ids.InvocationId.from_bytes(new_id())
    partition.sdk(caller, _output_cmd(1, invocation_id=str(target)))
    partition.sdk(caller, _output_cmd(2, invocation_id=str(target)))

    void = partition.apply(OutboxCmd(2, 1, InvocationResponse(CallerSink(caller, 1, GET_OUTPUT_COMPLETION), Outcome())))
    msg_type, _, notif = parse_frame(the_forward(void).frame)
    assert msg_type == T.GET_INVOCATION_OUTPUT_COMPLETION
    assert isinstance(notif, pb.GetInvocationOutputCompletionNotificationMessage)
    assert notif.completion_id == 1 and notif.WhichOneof("result") == "void"

    failed = Outcome(failure=Failure(404, "not found"))
    actions = partition.apply(OutboxCmd(2, 2, InvocationResponse(CallerSink(caller, 2, GET_OUTPUT_COMPLETION), failed)))
    msg_type, _, notif = parse_frame(the_forward(actions).frame)
    assert msg_type == T.GET_INVOCATION_OUTPUT_COMPLETION
    assert isinstance(notif, pb.GetInvocationOutputCompletionNotificationMessage)
    assert (notif.failure.code, notif.failure.message) == (404, "not found")
    status = partition.status(caller)
    assert status.completions == [1, 2] and status.failed_completions == [2]


def test_call_response_still_becomes_a_call_completion(partition: Partition) -> None:
    assert CallerSink(b"x" * 24, 1).kind == CALL_COMPLETION == T.CALL_COMPLETION
    caller = _started(partition)
    partition.sdk(
        caller,
        pb.CallCommandMessage(
            service_name="Greeter", handler_name="greet", invocation_id_notification_idx=1, result_completion_id=2
        ),
    )
    actions = partition.apply(OutboxCmd(2, 1, InvocationResponse(CallerSink(caller, 2), Outcome(value=b""))))
    msg_type, _, notif = parse_frame(the_forward(actions).frame)
    assert msg_type == T.CALL_COMPLETION
    assert isinstance(notif, pb.CallCompletionNotificationMessage) and notif.WhichOneof("result") == "value"


def test_attach_round_trip_between_two_partitions(tmp_path: Path) -> None:
    """A handler attaches to a workflow run on another partition and is resumed with its result."""
    stores = {i: Partition(tmp_path / f"p{i}", partition_id=i) for i in range(NUM_PARTITIONS)}
    try:
        run = run_request("alice")
        remote = stores[_destination(run.invocation_id)]
        remote.apply(InvokeCmd(run, sink(1)))

        caller_id = next(
            ids.InvocationId(pk, b"\x02" * 16).to_bytes()
            for pk in range(0, 1 << 64, 1 << 61)
            if ids.partition_for(pk, NUM_PARTITIONS) != remote.machine.partition_id
        )
        home = stores[_destination(caller_id)]
        home.apply(InvokeCmd(request(GREETER, invocation_id=caller_id), sink(2)))
        wf = pb.WorkflowTarget(workflow_name="Signup", workflow_key="alice")
        [ship] = shipped(home.sdk(caller_id, _attach_cmd(1, workflow_target=wf)))
        home.suspend_v6(caller_id, completions=[1], signals=[1])
        assert ship.destination == remote.machine.partition_id

        src = home.machine.partition_id
        assert shipped(remote.apply(OutboxCmd(src, ship.seq, ship.message))) == []
        [back] = shipped(remote.finish(run.invocation_id, b'"welcome"'))
        assert back.destination == src

        actions = home.apply(OutboxCmd(remote.machine.partition_id, back.seq, back.message))
        assert StartAttempt(caller_id, 0) in actions
        _, notif = home.journal(caller_id)[-1]
        assert isinstance(notif, pb.AttachInvocationCompletionNotificationMessage)
        assert notif.completion_id == 1 and notif.value.content == b'"welcome"'
    finally:
        for p in stores.values():
            p.close()
