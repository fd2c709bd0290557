"""ctx.run proposals, sleeps, suspension and resumption."""

from __future__ import annotations

from restate.partition.actions import ArmTimer, ForwardEntry, StartAttempt
from restate.partition.commands import InvokeCmd, TimerFiredCmd
from restate.protocol import REQUESTED_ACK, MessageType, pb
from tests.unit.partition.harness import NOW, Partition, future, only_forward, parse_frame, request, sink

T = MessageType
F = pb.Future


def _started(p: Partition) -> bytes:
    req = request()
    p.apply(InvokeCmd(req, sink()))
    return req.invocation_id


# --- run


def test_run_command_is_stored_without_reply(partition: Partition) -> None:
    inv = _started(partition)
    assert partition.sdk(inv, pb.RunCommandMessage(result_completion_id=1, name="step")) == []
    [_, (msg_type, cmd)] = partition.journal(inv)
    assert msg_type == T.RUN
    assert isinstance(cmd, pb.RunCommandMessage)
    assert cmd.result_completion_id == 1 and cmd.name == "step"
    status = partition.status(inv)
    assert status.command_count == 1 and status.journal_len == 2


def test_propose_run_completion_appends_and_forwards_the_notification(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.RunCommandMessage(result_completion_id=1, name="step"))
    actions = partition.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b'{"n":1}'))

    assert partition.journal_types(inv) == [T.INPUT, T.RUN, T.RUN_COMPLETION]
    _, notif = partition.journal(inv)[2]
    assert isinstance(notif, pb.RunCompletionNotificationMessage)
    assert notif.completion_id == 1
    assert notif.WhichOneof("result") == "value"
    assert notif.value.content == b'{"n":1}'  # raw proposal bytes became Value{content}

    forward = only_forward(actions)
    assert isinstance(forward, ForwardEntry)
    assert forward.invocation_id == inv and forward.index == 2
    msg_type, flags, forwarded = parse_frame(forward.frame)
    assert (msg_type, flags) == (T.RUN_COMPLETION, 0)
    assert forwarded == notif

    status = partition.status(inv)
    assert status.completions == [1]
    assert status.failed_completions == []
    assert status.command_count == 1  # a proposal is not a command


def test_propose_run_completion_with_ack_forwards_the_v7_ack(partition_v7: Partition) -> None:
    p = partition_v7
    inv = _started(p)
    p.sdk(inv, pb.RunCommandMessage(result_completion_id=3, name="step"))
    actions = p.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=3, value=b"v"), flags=REQUESTED_ACK)

    forward = only_forward(actions)
    assert isinstance(forward, ForwardEntry)
    assert forward.index == 2  # the journal index of the stored RunCompletion it stands for
    msg_type, _, ack = parse_frame(forward.frame)
    assert msg_type == T.PROPOSE_RUN_COMPLETION_ACK
    assert isinstance(ack, pb.ProposeRunCompletionAckMessage) and ack.completion_id == 3
    # the journal holds the full notification (replays carry it, never the ack)
    msg_type, notif = p.journal(inv)[2]
    assert msg_type == T.RUN_COMPLETION
    assert isinstance(notif, pb.RunCompletionNotificationMessage)
    assert notif.completion_id == 3 and notif.value.content == b"v"


def test_failed_run_proposal_is_a_failed_completion(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.RunCommandMessage(result_completion_id=1))
    partition.sdk(
        inv, pb.ProposeRunCompletionMessage(result_completion_id=1, failure=pb.Failure(code=500, message="x"))
    )
    _, notif = partition.journal(inv)[2]
    assert isinstance(notif, pb.RunCompletionNotificationMessage)
    assert notif.WhichOneof("result") == "failure"
    assert (notif.failure.code, notif.failure.message) == (500, "x")
    status = partition.status(inv)
    assert status.completions == [1] and status.failed_completions == [1]


def test_duplicate_run_proposal_is_ignored(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.RunCommandMessage(result_completion_id=1))
    partition.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"first"))
    assert partition.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"second")) == []
    assert partition.journal_types(inv) == [T.INPUT, T.RUN, T.RUN_COMPLETION]
    _, notif = partition.journal(inv)[2]
    assert isinstance(notif, pb.RunCompletionNotificationMessage)
    assert notif.value.content == b"first"


def test_request_response_proposal_then_suspension_resumes_at_once(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.RunCommandMessage(result_completion_id=1))
    partition.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"v"))
    actions = partition.suspend_v6(inv, completions=[1], signals=[1])
    assert actions == [StartAttempt(inv, 0)]
    assert partition.status(inv).status == "invoked"


# --- sleep and suspension


def test_sleep_stores_a_timer_and_arms_it(partition: Partition) -> None:
    inv = _started(partition)
    wake = NOW + 300
    actions = partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=wake, result_completion_id=1))
    assert actions == [ArmTimer(wake, inv, 1)]
    assert partition.timers() == [(wake, inv, 1)]
    assert partition.journal_types(inv) == [T.INPUT, T.SLEEP]


def test_sleep_suspend_fire_resume(partition: Partition) -> None:
    inv = _started(partition)
    wake = NOW + 300
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=wake, result_completion_id=1))

    assert partition.suspend_v6(inv, completions=[1], signals=[1]) == []
    status = partition.status(inv)
    assert status.status == "suspended"
    assert status.awaiting is not None
    awaited = F()
    awaited.ParseFromString(status.awaiting)
    assert list(awaited.waiting_completions) == [1] and list(awaited.waiting_signals) == [1]

    actions = partition.apply(TimerFiredCmd(wake, inv, 1), now_ms=wake)
    assert actions == [StartAttempt(inv, 0)]
    assert partition.journal_types(inv) == [T.INPUT, T.SLEEP, T.SLEEP_COMPLETION]
    _, notif = partition.journal(inv)[2]
    assert isinstance(notif, pb.SleepCompletionNotificationMessage)
    assert notif.completion_id == 1 and notif.WhichOneof("result") == "void"
    status = partition.status(inv)
    assert status.status == "invoked"
    assert status.awaiting is None
    assert status.completions == [1]
    assert partition.timers() == []


def test_timer_fired_twice_is_applied_once(partition: Partition) -> None:
    inv = _started(partition)
    wake = NOW + 300
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=wake, result_completion_id=1))
    partition.suspend_v6(inv, completions=[1], signals=[1])
    partition.apply(TimerFiredCmd(wake, inv, 1), now_ms=wake)
    assert partition.apply(TimerFiredCmd(wake, inv, 1), now_ms=wake + 1) == []
    assert partition.journal_types(inv) == [T.INPUT, T.SLEEP, T.SLEEP_COMPLETION]


def test_timer_fired_while_running_forwards_the_notification(partition: Partition) -> None:
    inv = _started(partition)
    wake = NOW + 300
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=wake, result_completion_id=1))
    forward = only_forward(partition.apply(TimerFiredCmd(wake, inv, 1), now_ms=wake))
    assert isinstance(forward, ForwardEntry) and forward.index == 2
    msg_type, _, notif = parse_frame(forward.frame)
    assert msg_type == T.SLEEP_COMPLETION
    assert isinstance(notif, pb.SleepCompletionNotificationMessage) and notif.completion_id == 1


def test_suspension_when_the_notification_is_already_there_resumes_at_once(partition: Partition) -> None:
    inv = _started(partition)
    wake = NOW + 300
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=wake, result_completion_id=1))
    partition.apply(TimerFiredCmd(wake, inv, 1), now_ms=wake)  # fires while the SDK is suspending
    actions = partition.suspend_v6(inv, completions=[1], signals=[1])
    assert actions == [StartAttempt(inv, 0)]
    assert partition.status(inv).status == "invoked"


def test_unrelated_notification_does_not_resume(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 100, result_completion_id=1))
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 900, result_completion_id=2))
    partition.suspend_v6(inv, completions=[2], signals=[1])
    assert partition.apply(TimerFiredCmd(NOW + 100, inv, 1), now_ms=NOW + 100) == []
    status = partition.status(inv)
    assert status.status == "suspended"
    assert status.completions == [1]  # stored, delivered on the next attempt
    assert partition.apply(TimerFiredCmd(NOW + 900, inv, 2), now_ms=NOW + 900) == [StartAttempt(inv, 0)]


def test_v7_gather_resumes_only_after_both_sleeps(partition_v7: Partition) -> None:
    """PROTOCOL.md 8.4: gather(sleep 300ms, sleep 600ms) -> FIRST_COMPLETED{signals:[1], ALL_COMPLETED{[1,2]}}."""
    p = partition_v7
    inv = _started(p)
    p.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 300, result_completion_id=1))
    p.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 600, result_completion_id=2))
    tree = future(F.FIRST_COMPLETED, signals=(1,), nested=(future(F.ALL_COMPLETED, completions=(1, 2)),))
    assert p.suspend(inv, tree) == []
    assert p.apply(TimerFiredCmd(NOW + 300, inv, 1), now_ms=NOW + 300) == []
    assert p.status(inv).status == "suspended"
    assert p.apply(TimerFiredCmd(NOW + 600, inv, 2), now_ms=NOW + 600) == [StartAttempt(inv, 0)]
    assert p.journal_types(inv) == [T.INPUT, T.SLEEP, T.SLEEP, T.SLEEP_COMPLETION, T.SLEEP_COMPLETION]


def test_suspension_of_an_invocation_not_running_is_ignored(partition: Partition) -> None:
    inv = _started(partition)
    partition.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 300, result_completion_id=1))
    partition.suspend_v6(inv, completions=[1], signals=[])
    assert partition.suspend_v6(inv, completions=[1], signals=[]) == []
    assert partition.status(inv).status == "suspended"
