"""Frame header codec, type-id ranges and the incremental FrameDecoder."""

from __future__ import annotations

import pytest

from restate.protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    REQUESTED_ACK,
    Frame,
    FrameDecoder,
    MessageType,
    ProtocolError,
    encode_frame,
    is_command,
    is_control,
    is_custom_entry,
    is_notification,
)
from tests.unit.protocol import golden as g


def test_encode_frame_header_layout() -> None:
    assert encode_frame(0x040C, b"\x01" * 9) == bytes.fromhex("040c000000000009") + b"\x01" * 9
    assert encode_frame(0x0005, b"ab", flags=REQUESTED_ACK) == bytes.fromhex("0005800000000002") + b"ab"
    assert encode_frame(MessageType.END, b"") == g.END


def test_encode_frame_rejects_out_of_range() -> None:
    with pytest.raises(ProtocolError):
        encode_frame(0x1_0000, b"")
    with pytest.raises(ProtocolError):
        encode_frame(0x0400, b"", flags=-1)


def test_message_type_values_and_ranges() -> None:
    assert MessageType.START == 0 and MessageType.PROPOSE_RUN_COMPLETION_ACK == 7
    assert MessageType.COMPLETE_AWAKEABLE == 0x0414 and MessageType.RUN == 0x0411
    assert MessageType.CALL_INVOCATION_ID == 0x800E and MessageType.SIGNAL == 0xFBFF
    for t in MessageType:
        kinds = [is_control(t), is_command(t), is_notification(t)]
        assert kinds.count(True) == 1, t
        assert kinds.index(True) == (0 if t < 0x400 else 1 if t < 0x8000 else 2), t
    assert is_command(0xFC00) and is_custom_entry(0xFFFF) and not is_notification(0xFC00)
    assert not is_custom_entry(0x0411) and not is_control(0x0400) and is_notification(0x8000)


def test_frame_flags() -> None:
    f = Frame(5, REQUESTED_ACK, b"")
    assert f.requested_ack and f.type == 5 and f.payload == b""
    assert not Frame(5, 0, b"").requested_ack


def test_decoder_single_and_coalesced() -> None:
    dec = FrameDecoder()
    assert dec.push(g.SLEEP_COMPLETION) == [Frame(0x800C, 0, bytes.fromhex("08012200"))]
    frames = dec.push(g.OUTPUT_HELLO + g.END + g.PROPOSE_RUN_ACKED)
    assert [(f.type, f.flags) for f in frames] == [(0x0401, 0), (0x0003, 0), (0x0005, REQUESTED_ACK)]
    assert frames[1].payload == b""
    assert dec.at_boundary() and dec.buffered == 0


def test_decoder_byte_by_byte() -> None:
    stream = g.START_GREET + g.END + g.SLEEP + g.SIGNAL_AWAKEABLE
    dec = FrameDecoder()
    out: list[Frame] = []
    for i in range(len(stream)):
        out.extend(dec.push(stream[i : i + 1]))
        if i < len(g.START_GREET) - 1:
            assert out == []
    assert [f.type for f in out] == [0x0000, 0x0003, 0x040C, 0xFBFF]
    assert b"".join(encode_frame(f.type, f.payload, f.flags) for f in out) == stream
    dec.finish()


@pytest.mark.parametrize("chunk", [2, 3, 5, 7, 8, 9, 13, 64])
def test_decoder_arbitrary_chunking(chunk: int) -> None:
    stream = b"".join(g.ALL)
    reference = FrameDecoder().push(stream)
    dec = FrameDecoder()
    out: list[Frame] = []
    for i in range(0, len(stream), chunk):
        out.extend(dec.push(memoryview(stream)[i : i + chunk]))
    assert out == reference and len(out) == len(g.ALL)


def test_decoder_split_header_then_payload_then_next_frame() -> None:
    dec = FrameDecoder()
    assert dec.push(g.RUN_COMPLETION[:3]) == []
    assert dec.push(g.RUN_COMPLETION[3:10]) == []
    assert dec.buffered == 10 and not dec.at_boundary()
    frames = dec.push(g.RUN_COMPLETION[10:] + g.END[:4])
    assert [f.type for f in frames] == [0x8011]
    assert dec.buffered == 4
    with pytest.raises(ProtocolError):
        dec.finish()
    assert [f.type for f in dec.push(g.END[4:])] == [0x0003]
    dec.finish()


def test_decoder_accepts_bytearray_and_payloads_are_bytes() -> None:
    buf = bytearray(g.SLEEP + g.SLEEP_COMPLETION)
    frames = FrameDecoder().push(buf)
    buf[:] = b"\x00" * len(buf)  # decoder must not keep views on the caller's buffer
    assert all(type(f.payload) is bytes for f in frames)
    assert frames[1].payload == bytes.fromhex("08012200")


def test_decoder_oversized_frame() -> None:
    dec = FrameDecoder(max_frame_size=16)
    assert dec.max_frame_size == 16
    assert len(dec.push(encode_frame(0x0401, b"x" * 16))) == 1
    with pytest.raises(ProtocolError, match="limit"):
        dec.push(bytes.fromhex("0401000000000011"))  # 17 > 16, detected from the header alone


def test_decoder_oversized_split_header() -> None:
    dec = FrameDecoder()
    assert DEFAULT_MAX_FRAME_SIZE == 32 * 1024 * 1024
    header = (0x0401).to_bytes(2, "big") + b"\x00\x00" + (DEFAULT_MAX_FRAME_SIZE + 1).to_bytes(4, "big")
    assert dec.push(header[:5]) == []
    with pytest.raises(ProtocolError):
        dec.push(header[5:])


def test_decoder_large_frame_many_chunks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    stream = encode_frame(0x0401, payload) + g.END
    dec = FrameDecoder()
    out: list[Frame] = []
    for i in range(0, len(stream), 1000):
        out.extend(dec.push(stream[i : i + 1000]))
    assert [f.type for f in out] == [0x0401, 0x0003]
    assert out[0].payload == payload
