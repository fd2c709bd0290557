"""The invoker's HPACK encoder: what hpack's own decoder reads back, with no dynamic table in use."""

from __future__ import annotations

import pytest
from hpack import Decoder
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple

from restate.invoker.hpack_static import TABLE_SIZE_ZERO, StaticTableEncoder

REQUEST = [
    (b":method", b"POST"),  # fully in the static table
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:9080"),  # name in the static table
    (b":path", b"/invoke/Greeter/greet"),
    (b"content-type", b"application/vnd.restate.invocation.v6"),
    (b"x-restate-invocation-id", b"inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY"),  # name not in the static table
    (b"x-long", b"v" * 300),  # a length beyond the 7-bit prefix
    (b"x-empty", b""),
]


def test_blocks_decode_to_the_headers_and_the_decoder_table_stays_empty() -> None:
    encoder, decoder = StaticTableEncoder(), Decoder()
    first = encoder.encode(REQUEST)
    assert first.startswith(TABLE_SIZE_ZERO)
    assert decoder.decode(first, raw=True) == REQUEST
    second = encoder.encode(REQUEST)
    assert not second.startswith(TABLE_SIZE_ZERO)
    assert second == first[len(TABLE_SIZE_ZERO) :]  # no state: the same headers, the same bytes
    assert decoder.decode(second, raw=True) == REQUEST
    assert len(decoder.header_table.dynamic_entries) == 0
    assert first[1:2] == b"\x83"  # :method POST is static index 3


def test_a_settings_change_repeats_the_size_update() -> None:
    encoder, decoder = StaticTableEncoder(), Decoder()
    decoder.decode(encoder.encode(REQUEST[:2]), raw=True)
    encoder.header_table_size = 0  # what h2 does on SETTINGS_HEADER_TABLE_SIZE
    block = encoder.encode(REQUEST[:2])
    assert block.startswith(TABLE_SIZE_ZERO)
    decoder.max_allowed_table_size = 0
    assert decoder.decode(block, raw=True) == REQUEST[:2]


@pytest.mark.parametrize("never", [True, False])
def test_never_indexed_headers_keep_their_flag(never: bool) -> None:
    kind = NeverIndexedHeaderTuple if never else HeaderTuple
    header = kind(b"authorization", b"secret")
    decoded = Decoder().decode(StaticTableEncoder().encode([header]), raw=True)
    assert decoded == [(b"authorization", b"secret")]
    assert isinstance(decoded[0], NeverIndexedHeaderTuple) is never


def test_text_headers_are_utf8_encoded() -> None:
    assert Decoder().decode(StaticTableEncoder().encode([(":path", "/é")]), raw=True) == [
        (b":path", "/é".encode())
    ]
