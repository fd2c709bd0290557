"""A partition's LevelDB shard and the transaction the state machine writes through."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from restate.storage.db import Database

_MISSING = object()


class Transaction:
    """A read-your-writes overlay over the store; `commit` writes it as one synced batch (group commit)."""

    __slots__ = ("_by_kind", "_db", "_writes")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._writes: dict[bytes, bytes | None] = {}
        # Written keys by their 2-byte kind (keys.KeyKind): a scan looks at the writes of its kind only,
        # not at every write of the batch (pop_inbox scans once per finished object invocation).
        self._by_kind: dict[bytes, set[bytes]] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self._writes.get(key, _MISSING)
        if value is _MISSING:
            return self._db.get(key)
        return value  # type: ignore[return-value]

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if key not in self._writes:
            kind = self._by_kind.get(key[:2])
            if kind is None:
                self._by_kind[key[:2]] = {key}
            else:
                kind.add(key)
        self._writes[key] = value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items under a prefix in key order, as this transaction sees them."""
        writes = self._writes
        written = self._by_kind.get(prefix[:2], ()) if len(prefix) >= 2 else writes.keys()
        pending = {k: writes[k] for k in written if k.startswith(prefix)}
        if not pending:
            yield from self._db.scan(prefix)
            return
        merged: dict[bytes, bytes | None] = dict(self._db.scan(prefix))
        merged.update(pending)
        for key in sorted(merged):
            value = merged[key]
            if value is not None:
                yield key, value

    def first(self, prefix: bytes) -> tuple[bytes, bytes] | None:
        for item in self.scan(prefix):
            return item
        return None

    def delete_prefix(self, prefix: bytes) -> None:
        for key, _ in list(self.scan(prefix)):
            self._write(key, None)

    @property
    def writes(self) -> Mapping[bytes, bytes | None]:
        """The pending writes (None = delete), read-only: for metrics taken before the commit."""
        return MappingProxyType(self._writes)

    @property
    def is_empty(self) -> bool:
        return not self._writes

    def commit(self) -> None:
        """Writes everything atomically and fsyncs; safe to call from a worker thread."""
        if self._writes:
            self._db.write(self._writes, sync=True)


class PartitionStore:
    """One partition's shard: `<base>/partitions/<i>`."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path)

    def transaction(self) -> Transaction:
        return Transaction(self.db)

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.db.scan(prefix)

    def close(self) -> None:
        self.db.close()
