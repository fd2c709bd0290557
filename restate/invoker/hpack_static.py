"""An HPACK encoder for the invoker's requests that never uses the dynamic table (RFC 7541, section 6).

Why: hpack's Encoder searches and updates the dynamic table and Huffman-codes every header of every
request; on small invocations that was a tenth of a partition's CPU. Without a dynamic table a
header's encoding depends on nothing but the header, so names are encoded once and cached, and each
value is one length byte plus its bytes. The request headers grow by some tens of bytes on the
loopback, and the deployment's decoder reads plain literals instead of looking up its table.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpack.hpack import encode_integer
from hpack.struct import NeverIndexedHeaderTuple
from hpack.table import HeaderTable

TABLE_SIZE_ZERO = b"\x20"  # dynamic table size update to 0 (section 6.3)
MAX_CACHED_NAMES = 256  # requests carry a fixed set of names; a bound all the same

_INDEXED: dict[tuple[bytes, bytes], bytes] = {}  # (name, value) fully in the static table -> indexed field
_NAME_INDEX: dict[bytes, int] = {}
assert len(HeaderTable.STATIC_TABLE) < 127  # every static index fits the 7-bit prefix of one byte
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _INDEXED.setdefault((_name, _value), bytes((0x80 | _index,)))
    _NAME_INDEX.setdefault(_name, _index)


def _string(data: bytes) -> bytes:
    """A string literal without Huffman coding (section 5.2)."""
    if len(data) < 127:
        return bytes((len(data),)) + data
    return bytes(encode_integer(len(data), 7)) + data


def _name_part(name: bytes, never_indexed: bool) -> bytes:
    """The first part of a literal field without indexing (0000) or never indexed (0001) (section 6.2)."""
    flag = 0x10 if never_indexed else 0x00
    index = _NAME_INDEX.get(name)
    if index is None:
        return bytes((flag,)) + _string(name)
    prefix = encode_integer(index, 4)
    prefix[0] |= flag
    return bytes(prefix)


def _as_bytes(text: bytes | str) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


class StaticTableEncoder:
    """Stands in for `hpack.Encoder` on an h2 connection (h2 uses `encode` and sets `header_table_size`)."""

    def __init__(self) -> None:
        self._size_update_due = True  # the first header block tells the peer our table is empty
        self._names: dict[tuple[bytes, bool], bytes] = {}

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # The peer changed the size it allows (SETTINGS_HEADER_TABLE_SIZE): ours stays 0, said again.
        self._size_update_due = True

    def encode(self, headers: Iterable[tuple[bytes | str, bytes | str]], huffman: bool = True) -> bytes:
        """The header block; `huffman` is accepted for compatibility and ignored."""
        parts: list[bytes] = []
        if self._size_update_due:
            parts.append(TABLE_SIZE_ZERO)
            self._size_update_due = False
        names = self._names
        for header in headers:
            name, value = _as_bytes(header[0]), _as_bytes(header[1])
            never_indexed = isinstance(header, NeverIndexedHeaderTuple)
            if not never_indexed:
                indexed = _INDEXED.get((name, value))
                if indexed is not None:
                    parts.append(indexed)
                    continue
            key = (name, never_indexed)
            prefix = names.get(key)
            if prefix is None:
                prefix = _name_part(name, never_indexed)
                if len(names) < MAX_CACHED_NAMES:
                    names[key] = prefix
            parts.append(prefix)
            parts.append(_string(value))
        return b"".join(parts)
