"""Message type ids and the 8-byte frame header codec (sans-IO, incremental decoder)."""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from restate.protocol.errors import ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER_SIZE",
    "REQUESTED_ACK",
    "Frame",
    "FrameDecoder",
    "MessageType",
    "encode_frame",
    "encode_header",
    "is_command",
    "is_control",
    "is_custom_entry",
    "is_notification",
]

HEADER_SIZE = 8
#: Header flag (bit 15 of the u16 flags): sender asks for an ack (CommandAck / ProposeRunCompletionAck).
REQUESTED_ACK = 0x8000
#: Server-side `message-size-limit`: larger frames fail the attempt.
DEFAULT_MAX_FRAME_SIZE = 32 * 1024 * 1024

_HEADER = struct.Struct(">HHI")
_pack_header = _HEADER.pack
_unpack_header_from = _HEADER.unpack_from


class MessageType(IntEnum):
    """Every message type id of protocol V5-V7."""

    # control (0x0000 - 0x03FF)
    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    AWAITING_ON = 0x0006
    PROPOSE_RUN_COMPLETION_ACK = 0x0007
    # commands (0x0400 - 0x7FFF)
    INPUT = 0x0400
    OUTPUT = 0x0401
    GET_LAZY_STATE = 0x0402
    SET_STATE = 0x0403
    CLEAR_STATE = 0x0404
    CLEAR_ALL_STATE = 0x0405
    GET_LAZY_STATE_KEYS = 0x0406
    GET_EAGER_STATE = 0x0407
    GET_EAGER_STATE_KEYS = 0x0408
    GET_PROMISE = 0x0409
    PEEK_PROMISE = 0x040A
    COMPLETE_PROMISE = 0x040B
    SLEEP = 0x040C
    CALL = 0x040D
    ONE_WAY_CALL = 0x040E
    SEND_SIGNAL = 0x0410
    RUN = 0x0411
    ATTACH_INVOCATION = 0x0412
    GET_INVOCATION_OUTPUT = 0x0413
    COMPLETE_AWAKEABLE = 0x0414
    # notifications (0x8000 - 0xFBFF)
    GET_LAZY_STATE_COMPLETION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION = 0x8006
    GET_PROMISE_COMPLETION = 0x8009
    PEEK_PROMISE_COMPLETION = 0x800A
    COMPLETE_PROMISE_COMPLETION = 0x800B
    SLEEP_COMPLETION = 0x800C
    CALL_COMPLETION = 0x800D
    CALL_INVOCATION_ID = 0x800E
    RUN_COMPLETION = 0x8011
    ATTACH_INVOCATION_COMPLETION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION = 0x8013
    SIGNAL = 0xFBFF


def is_control(msg_type: int) -> bool:
    """True for control messages (0x0000-0x03FF): never journaled."""
    return 0 <= msg_type <= 0x03FF


def is_command(msg_type: int) -> bool:
    """True for journal commands: 0x0400-0x7FFF, plus SDK-defined custom entries (0xFC00-0xFFFF)."""
    return 0x0400 <= msg_type <= 0x7FFF or 0xFC00 <= msg_type <= 0xFFFF


def is_custom_entry(msg_type: int) -> bool:
    """True for SDK-defined opaque custom entries (0xFC00-0xFFFF); stored and replayed as is."""
    return 0xFC00 <= msg_type <= 0xFFFF


def is_notification(msg_type: int) -> bool:
    """True for journal notifications (0x8000-0xFBFF)."""
    return 0x8000 <= msg_type <= 0xFBFF


class Frame(NamedTuple):
    """One decoded frame: 16-bit type id, 16-bit flags, raw protobuf payload."""

    type: int
    flags: int
    payload: bytes

    @property
    def requested_ack(self) -> bool:
        """Whether the REQUESTED_ACK header flag is set."""
        return bool(self.flags & REQUESTED_ACK)


def encode_header(msg_type: int, length: int, flags: int = 0) -> bytes:
    """The 8-byte big-endian frame header (u16 type, u16 flags, u32 payload length)."""
    try:
        return _pack_header(msg_type, flags, length)
    except struct.error as e:
        raise ProtocolError(f"cannot encode frame header ({msg_type=}, {flags=}, {length=}): {e}") from e


def encode_frame(msg_type: int, payload: bytes, flags: int = 0) -> bytes:
    """Header + payload as one bytes object."""
    return encode_header(msg_type, len(payload), flags) + payload


class FrameDecoder:
    """Incremental frame decoder: feed arbitrary byte chunks, get complete frames back.

    Frames may be split across chunks or coalesced within one. Bytes are only buffered
    while a frame is incomplete; complete frames are sliced straight out of the input.
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._buf = bytearray()
        self._max = max_frame_size

    @property
    def max_frame_size(self) -> int:
        """Largest accepted payload length in bytes."""
        return self._max

    @property
    def buffered(self) -> int:
        """Number of bytes held back (an incomplete frame)."""
        return len(self._buf)

    def at_boundary(self) -> bool:
        """True when no partial frame is pending (the stream may legitimately end here)."""
        return not self._buf

    def push(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Feed a chunk; return every frame it completes, in order.

        Raises ProtocolError as soon as a header announces a payload above max_frame_size;
        the stream is unusable after that (fail the attempt, drop the decoder).
        """
        buf = self._buf
        frames: list[Frame] = []
        if buf:
            buf += data
            consumed = self._scan(buf, frames)
            if consumed:
                del buf[:consumed]
            return frames
        consumed = self._scan(data, frames)
        if consumed < len(data):
            buf += data[consumed:]  # keep only the incomplete tail
        return frames

    def _scan(self, src: bytes | bytearray | memoryview, frames: list[Frame]) -> int:
        """Append every complete frame in `src` to `frames`; return the bytes consumed."""
        n = len(src)
        if n < HEADER_SIZE:
            return 0
        limit = self._max
        append = frames.append
        new_frame = tuple.__new__
        is_bytes = type(src) is bytes
        view = src if is_bytes else memoryview(src)
        off = 0
        try:
            while n - off >= HEADER_SIZE:
                msg_type, flags, length = _unpack_header_from(view, off)
                if length > limit:
                    raise ProtocolError(f"frame of type 0x{msg_type:04x} has {length} payload bytes, limit is {limit}")
                start = off + HEADER_SIZE
                end = start + length
                if end > n:
                    break
                payload = view[start:end] if is_bytes else bytes(view[start:end])
                append(new_frame(Frame, (msg_type, flags, payload)))
                off = end
        finally:
            if not is_bytes:
                view.release()  # type: ignore[union-attr]
        return off

    def finish(self) -> None:
        """Signal end of stream; raises ProtocolError if a partial frame is left over."""
        if self._buf:
            raise ProtocolError(f"stream ended inside a frame ({len(self._buf)} bytes pending)")
