"""The only user of plyvel: a LevelDB handle with atomic, synced write batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import plyvel


class StorageError(RuntimeError):
    """LevelDB could not be opened or written."""


class Database:
    """One LevelDB directory. Writes go through `write_batch`, committed atomically with fsync."""

    def __init__(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from exc

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._db.iterator(prefix=prefix)

    def keys(self, prefix: bytes) -> Iterator[bytes]:
        """The keys under a prefix, in order, without reading their values."""
        return self._db.iterator(prefix=prefix, include_value=False)  # type: ignore[no-any-return]

    def values(self, prefix: bytes) -> Iterator[bytes]:
        """The values under a prefix, in key order (no key objects made)."""
        return self._db.iterator(prefix=prefix, include_key=False)  # type: ignore[no-any-return]

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._db.iterator(start=start, stop=stop)

    def write(self, puts: dict[bytes, bytes | None], sync: bool = True) -> None:
        """Applies puts (None = delete) as one atomic batch; with sync=True it is fsynced before returning."""
        try:
            with self._db.write_batch(transaction=True, sync=sync) as batch:
                for key, value in puts.items():
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
        except plyvel.Error as exc:
            raise StorageError(f"LevelDB write failed: {exc}") from exc

    def snapshot(self) -> Snapshot:
        """A consistent read view, unaffected by later writes."""
        return Snapshot(self._db.snapshot())

    def close(self) -> None:
        self._db.close()


class Snapshot:
    """Consistent reads across several keys and scans (e.g. an invocation's status, journal and state)."""

    def __init__(self, snap: plyvel.Snapshot) -> None:
        self._snap = snap

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._snap.get(key)
        return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._snap.iterator(prefix=prefix)

    def keys(self, prefix: bytes) -> Iterator[bytes]:
        return self._snap.iterator(prefix=prefix, include_value=False)  # type: ignore[no-any-return]

    def values(self, prefix: bytes) -> Iterator[bytes]:
        return self._snap.iterator(prefix=prefix, include_key=False)  # type: ignore[no-any-return]

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from self._snap.iterator(start=start, stop=stop)

    def items_from(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every item whose key is `start` or after, in key order (a whole shard's copy, a chunk at a time)."""
        return self._snap.iterator(start=start or None)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._snap.close()
