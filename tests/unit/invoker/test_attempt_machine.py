"""The attempt as a sans-IO machine: timeouts, frames, errors, suspension and end, without sockets or a loop."""

from __future__ import annotations

import pytest

from restate.invoker.attempt import (
    CANCEL_TIMER,
    CLOSE,
    ENDED,
    HALF_CLOSE,
    TRANSITIONS,
    ArmTimer,
    AttemptMachine,
    AttemptState,
    Failed,
    InvalidTransitionError,
    JournalMessage,
    Output,
    SendFrames,
    Suspended,
)
from restate.protocol import REQUESTED_ACK, MessageType, content_type, encode_frame, encode_message, pb

S = AttemptState
CT6 = content_type(6)
SET_STATE = encode_message(pb.SetStateCommandMessage(key=b"k", value=pb.Value(content=b"v")))
SLEEP = encode_message(pb.SleepCommandMessage(wake_up_time=5, result_completion_id=1), flags=REQUESTED_ACK)
END = encode_message(pb.EndMessage())
SUSPEND_ON_1 = encode_message(pb.SuspensionMessage(waiting_completions=[1]))


def streaming(
    *, known_entries: int = 0, inactivity_s: float = 1.0, abort_s: float = 5.0, version: int = 6
) -> AttemptMachine:
    """A bidi attempt whose stream opened at t=0 and answered 200 with the right content type."""
    machine = AttemptMachine(
        known_entries=known_entries, version=version, bidi=True, inactivity_s=inactivity_s, abort_s=abort_s
    )
    machine.notify_opened(0.0)
    machine.notify_response_head(200, content_type(version))
    assert machine.take_outputs() == [ArmTimer(inactivity_s)]
    return machine


def failed(outputs: list[Output]) -> Failed:
    found = [o for o in outputs if isinstance(o, Failed)]
    assert len(found) == 1, outputs
    return found[0]


# --- timeouts


def test_inactivity_timeout_half_closes_the_request_so_the_sdk_suspends() -> None:
    machine = streaming(inactivity_s=1.0, abort_s=5.0)
    machine.notify_timer(1.0)
    assert machine.take_outputs() == [HALF_CLOSE, ArmTimer(6.0)]  # then the abort timeout runs
    assert machine.state is S.HALF_CLOSED
    machine.notify_response_data(SUSPEND_ON_1, 1.2)
    outputs = machine.take_outputs()
    v6_future = pb.Future(waiting_completions=[1], combinator_type=pb.Future.FIRST_COMPLETED)
    assert outputs[0] == Suspended(v6_future.SerializeToString())
    assert outputs[1:] == [CANCEL_TIMER]  # the abort timer does not outlive the attempt
    assert machine.state is S.FINISHED


def test_activity_re_arms_the_inactivity_timer_instead_of_closing() -> None:
    machine = streaming(inactivity_s=1.0)
    machine.notify_response_data(SET_STATE, 0.4)  # the deployment wrote
    assert machine.notify_entry(-1, b"notification", 0.7) == b"notification"  # we wrote
    machine.take_outputs()
    machine.notify_timer(1.0)
    assert machine.take_outputs() == [ArmTimer(1.7)]
    assert machine.state is S.STREAMING
    machine.notify_timer(1.7)
    assert machine.take_outputs() == [HALF_CLOSE, ArmTimer(6.7)]


def test_abort_timeout_fails_the_attempt_and_closes_the_transport() -> None:
    machine = streaming(inactivity_s=1.0, abort_s=5.0)
    machine.notify_timer(1.0)
    machine.take_outputs()
    machine.notify_timer(3.0)  # early (a late tick of an older timer): wait on
    assert machine.take_outputs() == [ArmTimer(6.0)]
    machine.notify_timer(6.0)
    outputs = machine.take_outputs()
    assert failed(outputs) == Failed(500, "the deployment did not finish within the abort timeout")
    assert outputs[-1] is CLOSE
    assert machine.state is S.FAILED


def test_the_end_cancels_the_armed_timer_and_half_closes() -> None:
    machine = streaming()
    machine.notify_response_data(END, 0.5)
    assert machine.take_outputs() == [ENDED, CANCEL_TIMER, HALF_CLOSE]
    machine.notify_timer(1.0)  # a tick that was already on its way does nothing
    assert machine.take_outputs() == []


def test_request_response_attempts_abort_a_deployment_that_stops_answering() -> None:
    """As the real server (measured: "[500] the invocation stream was closed after the 'abort timeout' fired"):
    no response message for the inactivity timeout, then none for the abort timeout, fails the attempt."""
    machine = AttemptMachine(known_entries=0, version=6, bidi=False, inactivity_s=1.0, abort_s=5.0)
    machine.notify_opened(0.0)
    assert machine.take_outputs() == [ArmTimer(1.0)]
    assert machine.state is S.HALF_CLOSED
    machine.notify_response_head(200, CT6)
    machine.notify_response_data(encode_message(pb.OutputCommandMessage()), 0.5)  # an answer: still active
    machine.take_outputs()
    machine.notify_timer(1.0)
    assert machine.take_outputs() == [ArmTimer(1.5)]
    machine.notify_timer(1.5)  # inactive since 0.5: the abort timeout starts
    assert machine.take_outputs() == [ArmTimer(6.5)]
    machine.notify_response_data(encode_message(pb.OutputCommandMessage()), 4.0)  # a message resets it
    machine.take_outputs()
    machine.notify_timer(6.5)  # not the old deadline: idle since 4.0, so the abort timeout starts again now
    assert machine.take_outputs() == [ArmTimer(11.5)]
    machine.notify_timer(11.5)
    outputs = machine.take_outputs()
    assert failed(outputs) == Failed(500, "the deployment did not finish within the abort timeout", made_progress=True)
    assert outputs[-1] is CLOSE and machine.state is S.FAILED


def test_request_response_end_cancels_the_timer() -> None:
    machine = AttemptMachine(known_entries=0, version=6, bidi=False, inactivity_s=1.0)
    machine.notify_opened(0.0)
    machine.notify_response_head(200, CT6)
    assert machine.take_outputs() == [ArmTimer(1.0)]
    machine.notify_response_data(END, 0.5)
    assert machine.take_outputs() == [ENDED, CANCEL_TIMER]
    machine.notify_timer(1.0)  # a tick already on its way does nothing
    assert machine.take_outputs() == []


# --- frames from the deployment


def test_commands_and_run_proposals_become_journal_messages_in_order() -> None:
    machine = streaming()
    proposal = encode_message(pb.ProposeRunCompletionMessage(result_completion_id=2, value=b"x"))
    awaiting = encode_frame(MessageType.AWAITING_ON, b"")
    data = SET_STATE + awaiting + proposal + SLEEP
    machine.notify_response_data(data[:5], 0.1)  # frames split across chunks
    machine.notify_response_data(data[5:], 0.2)
    outputs = machine.take_outputs()
    assert [(o.msg_type, o.flags) for o in outputs if isinstance(o, JournalMessage)] == [
        (MessageType.SET_STATE, 0),
        (MessageType.PROPOSE_RUN_COMPLETION, 0),
        (MessageType.SLEEP, REQUESTED_ACK),
    ]
    assert len(outputs) == 3
    assert machine.made_progress


def test_a_run_proposal_alone_is_not_progress() -> None:
    machine = streaming()
    machine.notify_response_data(encode_message(pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"")), 0)
    assert not machine.made_progress


def test_frames_after_the_end_are_drained_not_reported() -> None:
    machine = streaming()
    machine.notify_response_data(END + SET_STATE, 0.1)
    assert machine.take_outputs() == [ENDED, CANCEL_TIMER, HALF_CLOSE]
    machine.notify_response_data(SET_STATE, 0.2)
    machine.notify_response_end()
    assert machine.take_outputs() == []


def test_suspension_v7_keeps_the_awaited_future() -> None:
    machine = streaming(version=7)
    future = pb.Future(waiting_signals=[17], combinator_type=pb.Future.ALL_SUCCEEDED_OR_FIRST_FAILED)
    machine.notify_response_data(encode_message(pb.SuspensionMessage(awaiting_on=future)), 0.1)
    assert machine.take_outputs()[0] == Suspended(future.SerializeToString())


def test_error_message_reports_the_deployments_retry_hint_and_behavior() -> None:
    machine = streaming()
    machine.notify_response_data(SET_STATE, 0.1)
    error = pb.ErrorMessage(
        code=422,
        message="boom",
        stacktrace="at handler()",
        related_command_index=3,
        related_command_name="fetch",
        next_retry_delay=250,
        behavior=pb.ErrorMessage.PAUSE,
    )
    machine.notify_response_data(encode_message(error), 0.2)
    outputs = machine.take_outputs()
    assert failed(outputs) == Failed(422, "boom", "at handler()", 250, "pause", True, "3 'fetch'")
    assert outputs[-2:] == [CANCEL_TIMER, HALF_CLOSE]  # the response drains, as after End
    assert machine.state is S.FAILED


def test_error_message_without_code_or_hint_is_a_plain_500() -> None:
    machine = streaming()
    machine.notify_response_data(encode_message(pb.ErrorMessage(message="x", behavior=pb.ErrorMessage.FAIL)), 0.1)
    assert failed(machine.take_outputs()) == Failed(500, "x", None, None, "kill")


# --- protocol errors and bad responses


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (encode_frame(0x8001, b""), "ProtocolError: unexpected message type 0x8001 from the deployment"),
        (encode_frame(0x0004, b""), "ProtocolError: unexpected message type 0x0004 from the deployment"),
        (encode_message(pb.SuspensionMessage()), "ProtocolError: suspension without anything to wait for"),
        (encode_frame(MessageType.ERROR, b"\xff"), "ProtocolError: cannot decode ErrorMessage (0x0002): "),
        (encode_frame(0x0400, b"")[:4] + b"\x7f\xff\xff\xff", "ProtocolError: frame of type 0x0400 has "),
    ],
    ids=["notification", "command-ack", "empty-suspension", "undecodable", "oversized"],
)
def test_protocol_errors_fail_the_attempt_and_close_the_transport(frames: bytes, message: str) -> None:
    machine = streaming()
    machine.notify_response_data(frames, 0.1)
    outputs = machine.take_outputs()
    assert (failed(outputs).code, failed(outputs).message[: len(message)]) == (500, message)
    assert outputs[-1] is CLOSE
    assert CANCEL_TIMER in outputs


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (500, CT6, Failed(500, "the deployment answered with unexpected status code 500")),
        (404, CT6, Failed(404, "the deployment answered with unexpected status code 404")),
        (
            200,
            "application/json",
            Failed(415, "the deployment answered with unexpected content-type 'application/json'"),
        ),
        (200, None, Failed(415, "the deployment answered with unexpected content-type None")),
        (
            200,
            content_type(7),
            Failed(415, f"the deployment answered with unexpected content-type {content_type(7)!r}"),
        ),
    ],
)
def test_bad_response_heads_fail_with_their_code(status: int, content: str | None, expected: Failed) -> None:
    machine = AttemptMachine(known_entries=0, version=6, bidi=True)
    machine.notify_opened(0.0)
    machine.notify_response_head(status, content)
    outputs = machine.take_outputs()
    assert failed(outputs) == expected
    assert outputs[-1] is CLOSE


def test_response_ending_without_an_outcome_is_a_failure() -> None:
    machine = streaming()
    machine.notify_response_data(SET_STATE, 0.1)
    machine.take_outputs()
    machine.notify_response_end()
    outputs = machine.take_outputs()
    message = "the deployment closed the response without End, Suspension or Error"
    assert failed(outputs) == Failed(500, message, made_progress=True)


def test_transport_errors_and_crashes_name_the_exception() -> None:
    machine = streaming()
    machine.notify_transport_error(ConnectionResetError("peer went away"))
    assert failed(machine.take_outputs()).message == "ConnectionResetError: peer went away"
    machine.notify_transport_error(OSError("later"))  # reported once only
    assert machine.take_outputs() == []
    crashed = streaming()
    crashed.notify_crash(KeyError("k"))
    assert failed(crashed.take_outputs()).message == "internal error: KeyError('k')"


# --- entries from the partition, refusals and kills


def test_entries_are_held_until_the_stream_opens_and_replayed_ones_are_dropped() -> None:
    machine = AttemptMachine(known_entries=2, version=6, bidi=True)
    assert machine.notify_entry(1, b"replayed", 0.0) is None
    assert machine.notify_entry(2, b"e2", 0.0) is None  # held: the stream is not open yet
    assert machine.notify_entry(-1, b"n", 0.0) is None
    assert machine.notify_entry(2, b"e2 again", 0.0) is None
    machine.notify_opened(0.5)
    assert machine.take_outputs() == [SendFrames(b"e2"), SendFrames(b"n"), ArmTimer(60.5)]
    assert machine.notify_entry(3, b"e3", 0.6) == b"e3"


def test_request_response_attempts_leave_entries_to_the_next_attempt() -> None:
    machine = AttemptMachine(known_entries=0, version=6, bidi=False)
    assert machine.notify_entry(0, b"e0", 0.0) is None
    machine.notify_opened(0.0)
    assert machine.notify_entry(1, b"e1", 0.0) is None
    assert machine.take_outputs() == [ArmTimer(60.0)]  # the inactivity timer only: no entry is sent


def test_no_entry_is_written_after_the_request_closed() -> None:
    machine = streaming(inactivity_s=1.0)
    machine.notify_timer(1.0)
    assert machine.notify_entry(0, b"late", 1.1) is None


def test_a_refused_end_fails_the_attempt_once() -> None:
    machine = streaming()
    machine.notify_response_data(END, 0.1)
    machine.take_outputs()
    machine.notify_refused("state writes are not allowed in shared handlers")
    outputs = machine.take_outputs()
    assert outputs == [Failed(500, "state writes are not allowed in shared handlers"), CLOSE]
    machine.notify_refused("again")
    assert machine.take_outputs() == []


def test_a_killed_attempt_reports_nothing_and_closes() -> None:
    machine = streaming()
    machine.notify_killed()
    assert machine.take_outputs() == [CANCEL_TIMER, CLOSE]
    machine.notify_response_data(END, 0.1)
    machine.notify_refused("late")
    machine.notify_transport_error(OSError("reset"))
    assert machine.notify_entry(0, b"e", 0.2) is None
    assert machine.take_outputs() == []


def test_killed_while_connecting_closes_the_stream_once_it_opens() -> None:
    machine = AttemptMachine(known_entries=0, version=6, bidi=True)
    machine.notify_entry(0, b"e0", 0.0)
    machine.notify_killed()
    assert machine.take_outputs() == [CLOSE]
    machine.notify_opened(0.1)
    assert machine.take_outputs() == [CLOSE]  # and nothing held is written


# --- the transition table


def test_every_input_in_every_state_moves_only_along_the_table() -> None:
    """Drive a machine into each state, then apply each input: the state after is the same or a listed one."""
    paths = {
        S.OPENING: [],
        S.STREAMING: ["open"],
        S.HALF_CLOSED: ["open", "tick"],
        S.FINISHED: ["open", "end"],
        S.FAILED: ["open", "refuse"],
        S.KILLED: ["kill"],
    }
    inputs = {
        "open": lambda m: m.notify_opened(0.0),
        "head": lambda m: m.notify_response_head(200, CT6),
        "bad head": lambda m: m.notify_response_head(503, CT6),
        "data": lambda m: m.notify_response_data(SET_STATE, 0.0),
        "end": lambda m: m.notify_response_data(END, 0.0),
        "garbage": lambda m: m.notify_response_data(encode_frame(0x8001, b""), 0.0),
        "eof": lambda m: m.notify_response_end(),
        "tick": lambda m: m.notify_timer(1000.0),
        "entry": lambda m: m.notify_entry(-1, b"n", 0.0),
        "transport": lambda m: m.notify_transport_error(OSError("x")),
        "refuse": lambda m: m.notify_refused("no"),
        "kill": lambda m: m.notify_killed(),
    }
    for state, path in paths.items():
        for name, apply in inputs.items():
            machine = AttemptMachine(known_entries=0, version=6, bidi=True, inactivity_s=1.0)
            for step in path:
                inputs[step](machine)
            assert machine.state is state, (state, path)
            apply(machine)
            assert machine.state is state or machine.state in TRANSITIONS[state], (state, name, machine.state)


def test_a_move_outside_the_table_is_refused() -> None:
    machine = streaming()
    machine.notify_killed()
    with pytest.raises(InvalidTransitionError, match="from killed to streaming"):
        machine._move(S.STREAMING)
