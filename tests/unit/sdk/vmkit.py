"""Byte-level helpers for the SDK VM tests: build request frames, decode response frames."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from restate.protocol import FrameDecoder, MessageType, content_type, decode_message, encode_message, notification, pb
from restate.sdk.vm import VM

T = MessageType
INVOCATION_ID = bytes.fromhex("605e509271f3c9c5a16233e36b6b42ef5ca4e919786f0623")  # captures.md section 9
DEBUG_ID = "inv_1gYPbidQlBjW145FGRTISzcK5uNoYVa2CB"


def start(known: int = 1, *, key: str = "", state: dict[str, bytes] | None = None, partial: bool = True,
          retry_count: int = 0, duration: int = 0, seed: int = 42) -> bytes:  # fmt: skip
    """A framed StartMessage."""
    msg = pb.StartMessage(id=INVOCATION_ID, debug_id=DEBUG_ID, known_entries=known, partial_state=partial, key=key,
                          retry_count_since_last_stored_entry=retry_count, duration_since_last_stored_entry=duration,
                          random_seed=seed)  # fmt: skip
    for k, v in (state or {}).items():
        msg.state_map.add(key=k.encode(), value=v)
    return encode_message(msg)


def input_cmd(value: bytes = b'"Alice"', headers: dict[str, str] | None = None) -> bytes:
    """A framed InputCommand."""
    msg = pb.InputCommandMessage(headers=[pb.Header(key=k, value=v) for k, v in (headers or {}).items()])
    msg.value.SetInParent()
    msg.value.content = value
    return encode_message(msg)


def cmd(msg: Message) -> bytes:
    """Any framed command."""
    return encode_message(msg)


def sleep_done(cid: int) -> bytes:
    return notification(T.SLEEP_COMPLETION, completion_id=cid, void=True)


def run_done(cid: int, value: bytes) -> bytes:
    return notification(T.RUN_COMPLETION, completion_id=cid, value=value)


def vm(*entries: bytes, version: int = 6, closed: bool = False) -> VM:
    """A VM fed with `entries` (and the end of input if `closed`)."""
    machine = VM(content_type(version))
    machine.notify_input(b"".join(entries))
    if closed:
        machine.notify_input_closed()
    return machine


def frames(data: bytes) -> list[tuple[int, Any]]:
    """Decode an output byte string into (type, message) pairs."""
    return [(f.type, decode_message(f)) for f in FrameDecoder().push(data)]


def types(data: bytes) -> list[int]:
    return [t for t, _ in frames(data)]
