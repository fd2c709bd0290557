"""Type id <-> protobuf class mapping, message encode/decode, server-side builders and version negotiation."""

from __future__ import annotations

import re
from collections.abc import Iterable

from google.protobuf.message import DecodeError, Message

from restate.protocol._generated import service_protocol_pb2 as pb
from restate.protocol.errors import ProtocolError
from restate.protocol.framing import Frame, MessageType, encode_header

__all__ = [
    "COMPLETION_FOR_COMMAND",
    "MAX_VERSION",
    "MESSAGE_CLASSES",
    "MESSAGE_TYPES",
    "MIN_VERSION",
    "SUPPORTED_VERSIONS",
    "build_notification",
    "command_ack",
    "content_type",
    "decode_message",
    "encode_message",
    "negotiate",
    "notification",
    "parse_content_type",
    "propose_run_completion_ack",
    "run_completion_from_proposal",
    "suspension_future",
]

T = MessageType

#: Type id -> generated message class.
MESSAGE_CLASSES: dict[int, type[Message]] = {
    T.START: pb.StartMessage,
    T.SUSPENSION: pb.SuspensionMessage,
    T.ERROR: pb.ErrorMessage,
    T.END: pb.EndMessage,
    T.COMMAND_ACK: pb.CommandAckMessage,
    T.PROPOSE_RUN_COMPLETION: pb.ProposeRunCompletionMessage,
    T.AWAITING_ON: pb.AwaitingOnMessage,
    T.PROPOSE_RUN_COMPLETION_ACK: pb.ProposeRunCompletionAckMessage,
    T.INPUT: pb.InputCommandMessage,
    T.OUTPUT: pb.OutputCommandMessage,
    T.GET_LAZY_STATE: pb.GetLazyStateCommandMessage,
    T.SET_STATE: pb.SetStateCommandMessage,
    T.CLEAR_STATE: pb.ClearStateCommandMessage,
    T.CLEAR_ALL_STATE: pb.ClearAllStateCommandMessage,
    T.GET_LAZY_STATE_KEYS: pb.GetLazyStateKeysCommandMessage,
    T.GET_EAGER_STATE: pb.GetEagerStateCommandMessage,
    T.GET_EAGER_STATE_KEYS: pb.GetEagerStateKeysCommandMessage,
    T.GET_PROMISE: pb.GetPromiseCommandMessage,
    T.PEEK_PROMISE: pb.PeekPromiseCommandMessage,
    T.COMPLETE_PROMISE: pb.CompletePromiseCommandMessage,
    T.SLEEP: pb.SleepCommandMessage,
    T.CALL: pb.CallCommandMessage,
    T.ONE_WAY_CALL: pb.OneWayCallCommandMessage,
    T.SEND_SIGNAL: pb.SendSignalCommandMessage,
    T.RUN: pb.RunCommandMessage,
    T.ATTACH_INVOCATION: pb.AttachInvocationCommandMessage,
    T.GET_INVOCATION_OUTPUT: pb.GetInvocationOutputCommandMessage,
    T.COMPLETE_AWAKEABLE: pb.CompleteAwakeableCommandMessage,
    T.GET_LAZY_STATE_COMPLETION: pb.GetLazyStateCompletionNotificationMessage,
    T.GET_LAZY_STATE_KEYS_COMPLETION: pb.GetLazyStateKeysCompletionNotificationMessage,
    T.GET_PROMISE_COMPLETION: pb.GetPromiseCompletionNotificationMessage,
    T.PEEK_PROMISE_COMPLETION: pb.PeekPromiseCompletionNotificationMessage,
    T.COMPLETE_PROMISE_COMPLETION: pb.CompletePromiseCompletionNotificationMessage,
    T.SLEEP_COMPLETION: pb.SleepCompletionNotificationMessage,
    T.CALL_COMPLETION: pb.CallCompletionNotificationMessage,
    T.CALL_INVOCATION_ID: pb.CallInvocationIdCompletionNotificationMessage,
    T.RUN_COMPLETION: pb.RunCompletionNotificationMessage,
    T.ATTACH_INVOCATION_COMPLETION: pb.AttachInvocationCompletionNotificationMessage,
    T.GET_INVOCATION_OUTPUT_COMPLETION: pb.GetInvocationOutputCompletionNotificationMessage,
    T.SIGNAL: pb.SignalNotificationMessage,
}

#: Generated message class -> type id (the inverse of MESSAGE_CLASSES).
MESSAGE_TYPES: dict[type[Message], int] = {cls: int(t) for t, cls in MESSAGE_CLASSES.items()}

#: Completable command -> the notification type that carries its `result_completion_id` result.
#: (Call/OneWayCall additionally get CALL_INVOCATION_ID for `invocation_id_notification_idx`.)
COMPLETION_FOR_COMMAND: dict[int, int] = {
    T.GET_LAZY_STATE: T.GET_LAZY_STATE_COMPLETION,
    T.GET_LAZY_STATE_KEYS: T.GET_LAZY_STATE_KEYS_COMPLETION,
    T.GET_PROMISE: T.GET_PROMISE_COMPLETION,
    T.PEEK_PROMISE: T.PEEK_PROMISE_COMPLETION,
    T.COMPLETE_PROMISE: T.COMPLETE_PROMISE_COMPLETION,
    T.SLEEP: T.SLEEP_COMPLETION,
    T.CALL: T.CALL_COMPLETION,
    T.RUN: T.RUN_COMPLETION,
    T.ATTACH_INVOCATION: T.ATTACH_INVOCATION_COMPLETION,
    T.GET_INVOCATION_OUTPUT: T.GET_INVOCATION_OUTPUT_COMPLETION,
}


# --------------------------------------------------------------------------------------------
# decode / encode
# --------------------------------------------------------------------------------------------


def decode_message(frame_or_type: Frame | int, payload: bytes | None = None) -> Message:
    """Parse a frame (or a type id + payload) into its generated protobuf message.

    Raises ProtocolError for unknown/custom type ids and for undecodable payloads.
    Note: a SuspensionMessage carries V5/V6 fields 1-3 or V7 field 4; see suspension_future().
    """
    if isinstance(frame_or_type, Frame):
        msg_type = frame_or_type.type
        if payload is None:
            payload = frame_or_type.payload
    else:
        msg_type = frame_or_type
    if payload is None:
        raise TypeError("decode_message(type_id, payload): payload is required with a bare type id")
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise ProtocolError(f"unknown message type 0x{msg_type:04x}")
    msg = cls()
    try:
        msg.ParseFromString(payload)
    except DecodeError as e:
        raise ProtocolError(f"cannot decode {cls.__name__} (0x{msg_type:04x}): {e}") from e
    return msg


def encode_message(msg: Message, flags: int = 0, msg_type: int | None = None) -> bytes:
    """Serialize `msg` into a complete frame (header + payload).

    The type id is looked up from the message class; pass `msg_type` for classes shared by
    several ids (e.g. NotificationTemplate) or to override.
    """
    if msg_type is None:
        found = MESSAGE_TYPES.get(type(msg))
        if found is None:
            raise ProtocolError(f"{type(msg).__name__} has no message type id; pass msg_type")
        msg_type = found
    payload = msg.SerializeToString()
    return encode_header(msg_type, len(payload), flags) + payload


# --------------------------------------------------------------------------------------------
# server-side builders
# --------------------------------------------------------------------------------------------

FailureLike = pb.Failure | tuple[int, str]


def _set_failure(target: pb.Failure, failure: FailureLike) -> None:
    if isinstance(failure, pb.Failure):
        target.CopyFrom(failure)
    else:
        code, message = failure
        target.SetInParent()  # presence even for code 0 / empty message
        target.code = code
        target.message = message


def build_notification(
    msg_type: int,
    completion_id: int | None = None,
    signal_idx: int | None = None,
    signal_name: str | None = None,
    void: bool = False,
    value: bytes | None = None,
    failure: FailureLike | None = None,
    invocation_id: str | None = None,
    state_keys: Iterable[bytes] | None = None,
) -> Message:
    """Build (not frame) a notification message of type `msg_type` (0x8002..0x8013, 0xFBFF).

    Exactly one id (completion_id | signal_idx | signal_name) and exactly one result
    (void | value | failure | invocation_id | state_keys) must be given. `value` is the raw
    content, wrapped into Value{content}; empty void/value are still written (oneof presence).
    """
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None or not (0x8000 <= msg_type <= 0xFBFF):
        raise ValueError(f"0x{msg_type:04x} is not a known notification type")
    ids = (completion_id is not None) + (signal_idx is not None) + (signal_name is not None)
    if ids != 1:
        raise ValueError("exactly one of completion_id, signal_idx, signal_name is required")
    results = (
        bool(void)
        + (value is not None)
        + (failure is not None)
        + (invocation_id is not None)
        + (state_keys is not None)
    )
    if results != 1:
        raise ValueError("exactly one of void, value, failure, invocation_id, state_keys is required")
    msg = cls()
    if completion_id is not None:
        msg.completion_id = completion_id  # type: ignore[attr-defined]
    elif signal_idx is not None:
        msg.signal_id = signal_idx  # type: ignore[attr-defined]
    else:
        msg.signal_name = signal_name  # type: ignore[attr-defined]
    if void:
        msg.void.SetInParent()  # type: ignore[attr-defined]
    elif value is not None:
        v = msg.value  # type: ignore[attr-defined]
        v.SetInParent()
        v.content = value
    elif failure is not None:
        _set_failure(msg.failure, failure)  # type: ignore[attr-defined]
    elif invocation_id is not None:
        msg.invocation_id = invocation_id  # type: ignore[attr-defined]
    else:
        sk = msg.state_keys  # type: ignore[attr-defined]
        sk.SetInParent()
        sk.keys.extend(state_keys)
    return msg


def notification(
    msg_type: int,
    completion_id: int | None = None,
    signal_idx: int | None = None,
    signal_name: str | None = None,
    void: bool = False,
    value: bytes | None = None,
    failure: FailureLike | None = None,
    invocation_id: str | None = None,
    state_keys: Iterable[bytes] | None = None,
) -> bytes:
    """A framed notification; see build_notification() for the argument rules."""
    msg = build_notification(
        msg_type,
        completion_id=completion_id,
        signal_idx=signal_idx,
        signal_name=signal_name,
        void=void,
        value=value,
        failure=failure,
        invocation_id=invocation_id,
        state_keys=state_keys,
    )
    payload = msg.SerializeToString()
    return encode_header(msg_type, len(payload)) + payload


def run_completion_from_proposal(proposal: pb.ProposeRunCompletionMessage) -> bytes:
    """The framed RunCompletionNotification (0x8011) for a ProposeRunCompletion.

    Converts the proposal's raw `value` bytes (field 14) into Value{content} (field 5).
    """
    which = proposal.WhichOneof("result")
    cid = proposal.result_completion_id
    if which == "value":
        return notification(T.RUN_COMPLETION, completion_id=cid, value=proposal.value)
    if which == "failure":
        return notification(T.RUN_COMPLETION, completion_id=cid, failure=proposal.failure)
    raise ProtocolError(f"ProposeRunCompletion for completion {cid} carries no result")


def propose_run_completion_ack(completion_id: int) -> bytes:
    """Framed ProposeRunCompletionAck (0x0007, V7) for a proposal that had REQUESTED_ACK."""
    return encode_message(pb.ProposeRunCompletionAckMessage(completion_id=completion_id))


def command_ack(command_index: int) -> bytes:
    """Framed CommandAck (0x0004) for a command frame that had REQUESTED_ACK."""
    return encode_message(pb.CommandAckMessage(command_index=command_index))


def suspension_future(msg: pb.SuspensionMessage, version: int) -> pb.Future:
    """The awaited Future of a Suspension, decoded by negotiated version.

    V7+: field 4 as sent. V5/V6: the flat lists (fields 1-3) become a single
    FIRST_COMPLETED node, i.e. "resume when any listed id has a notification".
    """
    if version >= 7:
        fut = pb.Future()
        fut.CopyFrom(msg.awaiting_on)
        return fut
    return pb.Future(
        waiting_completions=msg.waiting_completions,
        waiting_signals=msg.waiting_signals,
        waiting_named_signals=msg.waiting_named_signals,
        combinator_type=pb.Future.FIRST_COMPLETED,
    )


# --------------------------------------------------------------------------------------------
# version negotiation
# --------------------------------------------------------------------------------------------

MIN_VERSION = 5
MAX_VERSION = 7
#: Invocation protocol versions this codec speaks.
SUPPORTED_VERSIONS = range(MIN_VERSION, MAX_VERSION + 1)

_CT_PREFIX = "application/vnd.restate.invocation.v"
_CT_RE = re.compile(r"application/vnd\.restate\.invocation\.v([1-9][0-9]{0,4})", re.IGNORECASE | re.ASCII)


def content_type(version: int) -> str:
    """`application/vnd.restate.invocation.v{N}` (used for both content-type and accept)."""
    return f"{_CT_PREFIX}{int(version)}"


def parse_content_type(ct: str) -> int | None:
    """The version N of an invocation content type, or None if `ct` is not one.

    Surrounding whitespace and media-type case are tolerated, parameters are not. The returned
    version is not checked against SUPPORTED_VERSIONS.
    """
    m = _CT_RE.fullmatch(ct.strip())
    return int(m.group(1)) if m else None


def negotiate(min_v: int, max_v: int, server_max: int = MAX_VERSION) -> int | None:
    """Highest version in [min_v, max_v] ∩ [5, min(server_max, 7)], or None if they do not overlap.

    Restate 1.7 uses server_max=6 unless V7 is explicitly enabled.
    """
    hi = min(max_v, server_max, MAX_VERSION)
    lo = max(min_v, MIN_VERSION)
    return hi if hi >= lo else None
