"""Message class mapping, encode/decode errors and the server-side builders."""

from __future__ import annotations

import pytest

from restate.protocol import (
    COMPLETION_FOR_COMMAND,
    MESSAGE_CLASSES,
    MESSAGE_TYPES,
    REQUESTED_ACK,
    Frame,
    MessageType,
    ProtocolError,
    build_notification,
    command_ack,
    decode_message,
    encode_message,
    is_command,
    is_notification,
    notification,
    pb,
    run_completion_from_proposal,
    suspension_future,
)

T = MessageType


def test_every_type_has_a_class_and_back() -> None:
    assert set(MESSAGE_CLASSES) == {int(t) for t in MessageType}
    assert len(set(MESSAGE_CLASSES.values())) == len(MESSAGE_CLASSES)
    for t, cls in MESSAGE_CLASSES.items():
        assert MESSAGE_TYPES[cls] == t
        assert cls.DESCRIPTOR.full_name.startswith("dev.restate.service.protocol.")


def test_notification_classes_share_the_template_layout() -> None:
    template = [(f.name, f.number) for f in pb.NotificationTemplate.DESCRIPTOR.fields]
    for t, cls in MESSAGE_CLASSES.items():
        if is_notification(t):
            assert [(f.name, f.number) for f in cls.DESCRIPTOR.fields] == template


def test_completion_for_command() -> None:
    for cmd, notif in COMPLETION_FOR_COMMAND.items():
        assert is_command(cmd) and is_notification(notif)
    assert COMPLETION_FOR_COMMAND[T.SLEEP] == T.SLEEP_COMPLETION


def test_decode_by_type_id_and_frame() -> None:
    payload = bytes.fromhex("08012200")
    a = decode_message(T.SLEEP_COMPLETION, payload)
    b = decode_message(Frame(0x800C, 0, payload))
    assert a == b and isinstance(a, pb.SleepCompletionNotificationMessage)


def test_decode_errors() -> None:
    with pytest.raises(ProtocolError, match="unknown"):
        decode_message(0x040F, b"")
    with pytest.raises(ProtocolError, match="unknown"):
        decode_message(0xFC00, b"")  # custom entries are opaque
    with pytest.raises(ProtocolError, match="cannot decode"):
        decode_message(T.SLEEP, b"\x08")  # truncated varint
    with pytest.raises(TypeError):
        decode_message(T.SLEEP)


def test_encode_message_needs_type_for_template() -> None:
    tmpl = pb.NotificationTemplate(completion_id=3)
    tmpl.void.SetInParent()
    with pytest.raises(ProtocolError):
        encode_message(tmpl)
    assert encode_message(tmpl, msg_type=T.SLEEP_COMPLETION) == notification(
        T.SLEEP_COMPLETION, completion_id=3, void=True
    )


def test_empty_results_keep_presence() -> None:
    assert notification(T.SLEEP_COMPLETION, completion_id=1, void=True)[8:] == bytes.fromhex("08012200")
    assert notification(T.GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"")[8:] == bytes.fromhex(
        "08012a00"
    )
    assert notification(T.CALL_COMPLETION, completion_id=1, failure=(0, ""))[8:] == bytes.fromhex("08013200")
    assert notification(T.CALL_INVOCATION_ID, completion_id=1, invocation_id="")[8:] == bytes.fromhex(
        "0801820100"
    )
    keys = notification(T.GET_LAZY_STATE_KEYS_COMPLETION, completion_id=1, state_keys=[])
    assert keys[8:] == bytes.fromhex("08018a0100")
    # completion id 0 and signal idx 0 are still written (oneof presence).
    assert notification(T.SLEEP_COMPLETION, completion_id=0, void=True)[8:] == bytes.fromhex("08002200")
    msg = decode_message(T.GET_LAZY_STATE_COMPLETION, bytes.fromhex("08012a00"))
    assert msg.WhichOneof("result") == "value"  # type: ignore[attr-defined]


def test_notification_variants() -> None:
    keys = decode_message(
        T.GET_LAZY_STATE_KEYS_COMPLETION,
        notification(T.GET_LAZY_STATE_KEYS_COMPLETION, completion_id=1, state_keys=[b"count", b"other"])[8:],
    )
    assert list(keys.state_keys.keys) == [b"count", b"other"]  # type: ignore[attr-defined]
    named = build_notification(T.SIGNAL, signal_name="approve", value=b"1")
    assert named.WhichOneof("id") == "signal_name"  # type: ignore[attr-defined]
    fail = pb.Failure(code=404, message="not found", metadata=[pb.FailureMetadata(key="k", value="v")])
    got = build_notification(T.ATTACH_INVOCATION_COMPLETION, completion_id=4, failure=fail)
    assert got.failure == fail  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"void": True},
        {"completion_id": 1},
        {"completion_id": 1, "signal_idx": 1, "void": True},
        {"completion_id": 1, "void": True, "value": b""},
    ],
)
def test_notification_argument_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        notification(T.SLEEP_COMPLETION, **kwargs)  # type: ignore[arg-type]


def test_notification_rejects_non_notification_type() -> None:
    with pytest.raises(ValueError):
        notification(T.SLEEP, completion_id=1, void=True)
    with pytest.raises(ValueError):
        notification(0x8003, completion_id=1, void=True)


def test_run_completion_from_proposal_converts_raw_bytes() -> None:
    prop = pb.ProposeRunCompletionMessage(result_completion_id=5, value=b"")
    raw = run_completion_from_proposal(prop)
    assert raw == bytes.fromhex("8011000000000004 0805 2a00")
    with pytest.raises(ProtocolError):
        run_completion_from_proposal(pb.ProposeRunCompletionMessage(result_completion_id=5))


def test_command_ack() -> None:
    assert command_ack(3) == bytes.fromhex("0004000000000002 0803")
    assert command_ack(0) == bytes.fromhex("0004000000000000")


def test_error_message_optional_presence() -> None:
    err = pb.ErrorMessage(code=570, related_command_index=0, behavior=pb.ErrorMessage.PAUSE)
    back = decode_message(T.ERROR, encode_message(err)[8:])
    assert back.HasField("related_command_index") and back.related_command_index == 0  # type: ignore[attr-defined]
    assert not back.HasField("next_retry_delay")  # type: ignore[attr-defined]
    assert back.behavior == pb.ErrorMessage.PAUSE  # type: ignore[attr-defined]
    # Captured: related_command_index 1, name 'boom', type 1041 (0x0411), next_retry_delay 100.
    err = pb.ErrorMessage(
        code=500,
        related_command_index=1,
        related_command_name="boom",
        related_command_type=T.RUN,
        next_retry_delay=100,
    )
    assert decode_message(T.ERROR, encode_message(err)[8:]) == err


def test_suspension_future_v5_named_signals() -> None:
    msg = pb.SuspensionMessage(waiting_completions=[2, 3], waiting_named_signals=["x"])
    fut = suspension_future(msg, 5)
    assert list(fut.waiting_completions) == [2, 3] and list(fut.waiting_named_signals) == ["x"]
    assert fut.combinator_type == pb.Future.FIRST_COMPLETED
    empty = suspension_future(pb.SuspensionMessage(), 7)
    assert empty == pb.Future()


def test_encode_flags_preserved() -> None:
    raw = encode_message(pb.RunCommandMessage(result_completion_id=1), flags=REQUESTED_ACK)
    assert raw[:4] == bytes.fromhex("04118000")
