"""Decode the captured golden frames and re-encode them byte for byte."""

from __future__ import annotations

import pytest

from restate.protocol import (
    REQUESTED_ACK,
    FrameDecoder,
    MessageType,
    decode_message,
    encode_message,
    notification,
    pb,
    propose_run_completion_ack,
    run_completion_from_proposal,
    suspension_future,
)
from tests.unit.protocol import golden as g

T = MessageType


def one(frame_bytes: bytes):  # type: ignore[no-untyped-def]
    frames = FrameDecoder().push(frame_bytes)
    assert len(frames) == 1
    return frames[0], decode_message(frames[0])


@pytest.mark.parametrize("frame_bytes", g.ALL, ids=lambda b: f"0x{b[0]:02x}{b[1]:02x}-{len(b)}")
def test_every_golden_frame_round_trips(frame_bytes: bytes) -> None:
    frame, msg = one(frame_bytes)
    assert encode_message(msg, flags=frame.flags) == frame_bytes


def test_start_greet() -> None:
    frame, msg = one(g.START_GREET)
    assert frame.type == T.START and frame.flags == 0
    assert isinstance(msg, pb.StartMessage)
    assert msg.id == bytes.fromhex("2c4ae91c15fda27c9ef0be5c21dc858f8674958b1fe7293d")
    assert msg.debug_id == "inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu"
    assert msg.known_entries == 1
    assert msg.partial_state is True
    assert msg.key == ""
    assert msg.retry_count_since_last_stored_entry == 0
    assert msg.duration_since_last_stored_entry == 3
    assert msg.random_seed == 15278614216999915429
    assert not msg.HasField("scope") and not msg.HasField("idempotency_key")


def test_start_built_by_server_matches_capture() -> None:
    msg = pb.StartMessage(
        id=bytes.fromhex("2c4ae91c15fda27c9ef0be5c21dc858f8674958b1fe7293d"),
        debug_id="inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu",
        known_entries=1,
        partial_state=True,
        duration_since_last_stored_entry=3,
        random_seed=15278614216999915429,
    )
    assert encode_message(msg) == g.START_GREET


def test_start_with_eager_state_and_key() -> None:
    _, msg = one(g.START_COUNTER)
    assert msg.partial_state is False
    assert msg.key == "k1"
    assert [(e.key, e.value) for e in msg.state_map] == [(b"count", b"5")]
    rebuilt = pb.StartMessage(
        id=msg.id,
        debug_id=msg.debug_id,
        known_entries=1,
        state_map=[pb.StartMessage.StateEntry(key=b"count", value=b"5")],
        key="k1",
        duration_since_last_stored_entry=1,
        random_seed=6259214942017307967,
    )
    assert encode_message(rebuilt) == g.START_COUNTER


def test_start_retry_fields() -> None:
    _, msg = one(g.START_RETRY)
    assert msg.known_entries == 2
    assert msg.retry_count_since_last_stored_entry == 1
    assert msg.duration_since_last_stored_entry == 107


def test_input_built_by_server() -> None:
    _, msg = one(g.INPUT_AWAKEABLE)
    assert isinstance(msg, pb.InputCommandMessage)
    assert list(msg.headers) == []
    assert msg.value.content == b'"sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ"'
    rebuilt = pb.InputCommandMessage(value=pb.Value(content=msg.value.content))
    assert encode_message(rebuilt) == g.INPUT_AWAKEABLE


def test_input_with_headers_field_order() -> None:
    # Section 2 capture (truncated there): headers (field 1) first, value (field 14) last.
    prefix = (
        bytes.fromhex("0a28 0a16") + b"x-restate-ingress-path" + bytes.fromhex("120e") + b"/Greeter/greet"
    )
    msg = pb.InputCommandMessage(
        headers=[pb.Header(key="x-restate-ingress-path", value="/Greeter/greet")],
        value=pb.Value(content=b'"Alice"'),
    )
    raw = encode_message(msg)
    assert raw[8:].startswith(prefix)
    assert raw[8 + len(prefix) :] == bytes.fromhex("7209 0a07") + b'"Alice"'
    # An empty input value is still written (`72 00`), distinguishable from "no value".
    assert encode_message(pb.InputCommandMessage(value=pb.Value())) == bytes.fromhex("0400000000000002 7200")


def test_sleep_command() -> None:
    frame, msg = one(g.SLEEP)
    assert frame.type == T.SLEEP
    assert msg.wake_up_time == 1795273703051
    assert msg.result_completion_id == 1


def test_sleep_completion_void() -> None:
    frame, msg = one(g.SLEEP_COMPLETION)
    assert frame.type == T.SLEEP_COMPLETION
    assert msg.WhichOneof("id") == "completion_id" and msg.completion_id == 1
    assert msg.WhichOneof("result") == "void"
    assert notification(T.SLEEP_COMPLETION, completion_id=1, void=True) == g.SLEEP_COMPLETION


def test_propose_run_completion_requested_ack() -> None:
    frame, msg = one(g.PROPOSE_RUN_ACKED)
    assert frame.type == T.PROPOSE_RUN_COMPLETION
    assert frame.flags == REQUESTED_ACK and frame.requested_ack
    assert msg.result_completion_id == 1
    assert msg.WhichOneof("result") == "value" and msg.value == b"42"
    assert encode_message(msg, flags=REQUESTED_ACK) == g.PROPOSE_RUN_ACKED
    # V7 answer to a flagged proposal.
    assert propose_run_completion_ack(1) == g.PROPOSE_RUN_ACK
    # V6 proposal (no flag) is answered with the full notification.
    frame6, msg6 = one(g.PROPOSE_RUN_V6)
    assert not frame6.requested_ack
    assert run_completion_from_proposal(msg6) == g.RUN_COMPLETION


def test_run_completion_notification() -> None:
    _, msg = one(g.RUN_COMPLETION)
    assert msg.completion_id == 1 and msg.value.content == b"42"
    assert notification(T.RUN_COMPLETION, completion_id=1, value=b"42") == g.RUN_COMPLETION


def test_run_failure_proposal_becomes_failure_notification() -> None:
    _, prop = one(g.PROPOSE_RUN_FAILURE)
    assert prop.WhichOneof("result") == "failure"
    assert (prop.failure.code, prop.failure.message) == (500, "ValueError('run boom')")
    assert run_completion_from_proposal(prop) == g.RUN_COMPLETION_FAILURE
    assert (
        notification(T.RUN_COMPLETION, completion_id=1, failure=(500, "ValueError('run boom')"))
        == g.RUN_COMPLETION_FAILURE
    )


def test_propose_run_completion_ack() -> None:
    frame, msg = one(g.PROPOSE_RUN_ACK)
    assert frame.type == T.PROPOSE_RUN_COMPLETION_ACK
    assert msg.completion_id == 1


def test_suspension_v6() -> None:
    _, msg = one(g.SUSPENSION_V6)
    assert list(msg.waiting_completions) == [1]
    assert list(msg.waiting_signals) == [1]
    assert not msg.HasField("awaiting_on")
    fut = suspension_future(msg, 6)
    assert list(fut.waiting_completions) == [1] and list(fut.waiting_signals) == [1]
    assert fut.combinator_type == pb.Future.FIRST_COMPLETED


def test_suspension_v7() -> None:
    _, msg = one(g.SUSPENSION_V7)
    assert list(msg.waiting_completions) == [] and msg.HasField("awaiting_on")
    fut = suspension_future(msg, 7)
    assert list(fut.waiting_completions) == [1]
    assert list(fut.waiting_signals) == [1]
    assert fut.combinator_type == pb.Future.FIRST_COMPLETED
    assert encode_message(pb.SuspensionMessage(awaiting_on=fut)) == g.SUSPENSION_V7


def test_suspension_v7_nested_tree() -> None:
    # gather(sleep 1, sleep 2) nested in FIRST_COMPLETED with CANCEL (captures section 15).
    tree = pb.Future(
        waiting_signals=[1],
        nested_futures=[pb.Future(waiting_completions=[1, 2], combinator_type=pb.Future.ALL_COMPLETED)],
        combinator_type=pb.Future.FIRST_COMPLETED,
    )
    raw = encode_message(pb.SuspensionMessage(awaiting_on=tree))
    assert len(raw) == 8 + 15  # "Suspension len=15"
    back = suspension_future(decode_message(T.SUSPENSION, raw[8:]), 7)  # type: ignore[arg-type]
    assert back == tree


def test_awaiting_on() -> None:
    _, msg = one(g.AWAITING_ON)
    assert list(msg.awaiting_on.waiting_completions) == [1]
    assert msg.executing_side_effects is False


def test_call_and_invocation_id_notification() -> None:
    _, call = one(g.CALL)
    assert (call.service_name, call.handler_name, call.parameter) == ("Greeter", "greet", b'"Bob"')
    assert call.invocation_id_notification_idx == 1 and call.result_completion_id == 2
    assert not call.HasField("idempotency_key")
    _, n = one(g.CALL_INVOCATION_ID)
    assert n.completion_id == 1 and n.WhichOneof("result") == "invocation_id"
    assert n.invocation_id == "inv_1bMUJzzAPGdR04YBUnRZRhFhGjkWuj3jVf"
    assert notification(T.CALL_INVOCATION_ID, completion_id=1, invocation_id=n.invocation_id) == (
        g.CALL_INVOCATION_ID
    )
    assert notification(T.CALL_COMPLETION, completion_id=2, value=b'"Hello Bob!"') == g.CALL_COMPLETION


def test_one_way_call() -> None:
    _, msg = one(g.ONE_WAY_CALL)
    assert msg.parameter == b'"bg"' and msg.invocation_id_notification_idx == 3
    assert msg.invoke_time == 0


def test_signal_notifications() -> None:
    _, cancel = one(g.SIGNAL_CANCEL)
    assert cancel.WhichOneof("id") == "signal_id" and cancel.signal_id == 1
    assert cancel.WhichOneof("result") == "void"
    assert notification(T.SIGNAL, signal_idx=1, void=True) == g.SIGNAL_CANCEL
    _, awk = one(g.SIGNAL_AWAKEABLE)
    assert awk.signal_id == 17 and awk.value.content == b'"resolved!"'
    assert notification(T.SIGNAL, signal_idx=17, value=b'"resolved!"') == g.SIGNAL_AWAKEABLE


def test_output_and_end() -> None:
    _, out = one(g.OUTPUT_HELLO)
    assert out.WhichOneof("result") == "value" and out.value.content == b'"Hello Alice!"'
    _, empty = one(g.OUTPUT_EMPTY)
    assert empty.WhichOneof("result") == "value" and empty.value.content == b""
    _, failed = one(g.OUTPUT_CANCELLED)
    assert failed.WhichOneof("result") == "failure"
    assert (failed.failure.code, failed.failure.message) == (409, "cancelled")
    frame, end = one(g.END)
    assert frame.type == T.END and frame.payload == b"" and isinstance(end, pb.EndMessage)
    assert encode_message(pb.EndMessage()) == g.END


def test_state_commands() -> None:
    _, get = one(g.GET_EAGER_STATE)
    assert get.key == b"count" and get.WhichOneof("result") == "value" and get.value.content == b"5"
    _, st = one(g.SET_STATE)
    assert st.key == b"count" and st.value.content == b"12"


def test_complete_awakeable() -> None:
    _, msg = one(g.COMPLETE_AWAKEABLE)
    assert msg.awakeable_id == "sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ"
    assert msg.WhichOneof("result") == "value" and msg.value.content == b'"resolved!"'


def test_whole_exchange_coalesced_and_byte_by_byte() -> None:
    stream = b"".join(g.ALL)
    expected = [one(f)[0] for f in g.ALL]
    assert FrameDecoder().push(stream) == expected
    dec = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got.extend(dec.push(stream[i : i + 1]))
    assert got == expected and dec.at_boundary()
