"""The encoded state of recently started objects' keys, kept equal to the committed store by every commit.

An attempt of a virtual object or workflow carries the key's whole state (the StartMessage's eager state
map). Reading and encoding 10,000 entries for every attempt costs the partition's loop tens of
milliseconds; this cache keeps, per key, each entry already encoded by the invoker's `encode` (so storage
knows no protocol), and the transaction's commit updates the entries of a cached key that a batch wrote.
An attempt then joins bytes instead of doing per-entry Python work.

Coherence: the cache changes only in `Transaction.commit` (synchronously after the write), so a snapshot
taken and read with `get` in the same synchronous step sees exactly what the cache holds; a key not cached
is read from that snapshot and cached as read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from restate.storage import keys
from restate.storage.keys import KeyKind
from restate.storage.view import PartitionView, Reader

Encode = Callable[[bytes, bytes], bytes]  # (state name, value) -> that entry's encoded bytes
MAX_BYTES = 64 * 1024 * 1024  # encoded bytes kept over all cached keys
MIN_ENTRIES = 16  # smaller states are read and encoded as fast as a cache lookup: not cached


@dataclass(slots=True)
class EncodedState:
    """One key's state: its entries' encoded bytes joined, and the size of the names and values."""

    encoded: bytes
    size: int  # sum of len(name) + len(value)
    entries: int


class _Key:
    """A cached key: the encoded entry of each state name, and the joined bytes (None: to be joined)."""

    __slots__ = ("entries", "joined", "size", "sizes")

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}
        self.sizes: dict[bytes, int] = {}
        self.size = 0
        self.joined: bytes | None = None

    def put(self, name: bytes, encoded: bytes, size: int) -> None:
        self.drop(name)
        self.entries[name] = encoded
        self.sizes[name] = size
        self.size += size
        self.joined = None

    def drop(self, name: bytes) -> None:
        if name in self.entries:
            del self.entries[name]
            self.size -= self.sizes.pop(name)
            self.joined = None

    def state(self) -> EncodedState:
        if self.joined is None:
            self.joined = b"".join(self.entries.values())
        return EncodedState(self.joined, self.size, len(self.entries))

    def footprint(self) -> int:
        return self.size + 16 * len(self.entries)


class StateCache:
    """Per (service, key), the encoded state; least recently used keys are dropped beyond `max_bytes`."""

    def __init__(self, encode: Encode, max_bytes: int = MAX_BYTES, min_entries: int = MIN_ENTRIES) -> None:
        self.encode = encode
        self.max_bytes = max_bytes
        self.min_entries = min_entries
        self._keys: OrderedDict[tuple[str, str], _Key] = OrderedDict()
        self._bytes = 0

    def get(self, snapshot: Reader, service: str, key: str) -> EncodedState:
        """The key's state as committed; `snapshot` must have been taken since the last commit."""
        found = self._keys.get((service, key))
        if found is not None:
            self._keys.move_to_end((service, key))
            return found.state()
        entry = _Key()
        for name, value in PartitionView(snapshot).state(service, key):
            entry.put(name, self.encode(name, value), len(name) + len(value))
        state = entry.state()
        if len(entry.entries) >= self.min_entries and entry.footprint() <= self.max_bytes:
            self._keys[(service, key)] = entry
            self._bytes += entry.footprint()
            self._evict()
        return state

    def committed(self, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """A batch's state writes (storage key, value or None for a delete), after they were committed."""
        if not self._keys:
            return
        for storage_key, value in writes:
            service, key, name = keys.split_keyed(storage_key)
            entry = self._keys.get((service, key))
            if entry is None:
                continue
            self._bytes -= entry.footprint()
            if value is None:
                entry.drop(name)
            else:
                entry.put(name, self.encode(name, value), len(name) + len(value))
            self._bytes += entry.footprint()
        self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._keys:
            _, entry = self._keys.popitem(last=False)
            self._bytes -= entry.footprint()

    def __len__(self) -> int:
        return len(self._keys)


STATE_PREFIX = KeyKind.STATE.value
