"""A partition's LevelDB shard and the transaction the state machine writes through (raw keys and bytes;
`restate.storage.tables` and `restate.storage.view` give them types)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from restate.storage import upgrade
from restate.storage.db import Database
from restate.storage.keys import KIND_LEN, KeyKind, invocation_of
from restate.storage.state_cache import STATE_PREFIX, StateCache

_MISSING = object()
_STATUS = KeyKind.STATUS.value


class StatusWatch(Protocol):
    """Told each committed status change while `active` (restate.introspection.status_counts keeps counts)."""

    @property
    def active(self) -> bool: ...

    def statuses_committed(self, changes: list[tuple[bytes, bytes | None, bytes | None]]) -> None:
        """(invocation id, the stored bytes before, after) of every status a batch wrote (None: absent / deleted)."""


class Transaction:
    """A read-your-writes overlay over the store; `commit` writes it as one synced batch (group commit)."""

    __slots__ = ("_base", "_by_kind", "_db", "_state_cache", "_status_watch", "_writes")

    def __init__(
        self,
        db: Database,
        state_cache: StateCache | None = None,
        status_watch: StatusWatch | None = None,
        base: Transaction | None = None,
    ) -> None:
        self._db = db
        # What reads see under this transaction's writes: the store, or (cluster mode, appends in flight)
        # the transaction of the previous batch, applied but not committed until its append is acknowledged.
        self._base: Database | Transaction = db if base is None else base
        self._state_cache = state_cache  # told about the state this transaction committed
        self._status_watch = status_watch  # told about the statuses it changed, while someone counts them
        self._writes: dict[bytes, bytes | None] = {}
        # Written keys by their kind (keys.KeyKind): a scan looks at the writes of its kind only, not at
        # every write of the batch (the inbox is scanned once per finished object invocation).
        self._by_kind: dict[bytes, set[bytes]] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self._writes.get(key, _MISSING)
        if value is _MISSING:
            return self._base.get(key)
        return value  # type: ignore[return-value]

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if key not in self._writes:
            kind = self._by_kind.get(key[:KIND_LEN])
            if kind is None:
                self._by_kind[key[:KIND_LEN]] = {key}
            else:
                kind.add(key)
        self._writes[key] = value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items under a prefix in key order, as this transaction sees them."""
        writes = self._writes
        written = self._by_kind.get(prefix[:KIND_LEN], ()) if len(prefix) >= KIND_LEN else writes.keys()
        pending = {k: writes[k] for k in written if k.startswith(prefix)}
        if not pending:
            yield from self._base.scan(prefix)
            return
        yield from _merged(self._base.scan(prefix), pending)

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items with start <= key < stop in key order, as this transaction sees them."""
        pending = {k: v for k, v in self._writes.items() if start <= k < stop}
        if not pending:
            yield from self._base.scan_range(start, stop)
            return
        yield from _merged(self._base.scan_range(start, stop), pending)

    def first(self, prefix: bytes) -> tuple[bytes, bytes] | None:
        for item in self.scan(prefix):
            return item
        return None

    def delete_prefix(self, prefix: bytes) -> None:
        for key, _ in list(self.scan(prefix)):
            self._write(key, None)

    @property
    def writes(self) -> Mapping[bytes, bytes | None]:
        """The pending writes (None = delete), read-only."""
        return MappingProxyType(self._writes)

    def committed(self, key: bytes) -> bytes | None:
        """The value as stored before this transaction (under it, when it is stacked on another)."""
        return self._base.get(key)

    @property
    def is_empty(self) -> bool:
        return not self._writes

    def commit(self, sync: bool = True) -> None:
        """Writes everything as one atomic batch and fsyncs it (then updates the cached state it changed).
        Cluster mode commits without the fsync: the replicated log holds the batch (docs/cluster.md)."""
        if self._writes:
            watch, statuses = self._status_watch, self._by_kind.get(_STATUS)
            before = None
            if statuses and watch is not None and watch.active:  # one read per status only while watched
                before = [(invocation_of(key), self._db.get(key), self._writes[key]) for key in statuses]
            self._db.write(self._writes, sync=sync)
            state = self._by_kind.get(STATE_PREFIX)
            if state and self._state_cache is not None:
                self._state_cache.committed((key, self._writes[key]) for key in state)
            if before is not None and watch is not None:
                watch.statuses_committed(before)

    def detach(self) -> None:
        """After its commit: reads under it go to the store, which holds what the transaction it was
        stacked on wrote (so a chain of stacked transactions never grows past the ones in flight)."""
        self._base = self._db


def _merged(stored: Iterator[tuple[bytes, bytes]], pending: dict[bytes, bytes | None]) -> Iterator[tuple[bytes, bytes]]:
    merged: dict[bytes, bytes | None] = dict(stored)
    merged.update(pending)
    for key in sorted(merged):
        value = merged[key]
        if value is not None:
            yield key, value


class PartitionStore:
    """One partition's shard: `<base>/partitions/<i>`, upgraded to the current store format on open."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path)
        #: the encoded state of objects' keys, kept by every commit (restate.storage.state_cache); set by
        #: the invoker, which knows how state is encoded
        self.state_cache: StateCache | None = None
        #: told about status changes while SQL counts are kept (restate.introspection.status_counts)
        self.status_watch: StatusWatch | None = None
        try:
            upgrade.open_partition(self.db, str(path))
        except BaseException:
            self.db.close()
            raise

    def transaction(self, base: Transaction | None = None) -> Transaction:
        """A new transaction over the store, or stacked on `base` (a batch applied, not committed yet)."""
        return Transaction(self.db, self.state_cache, self.status_watch, base)

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.db.scan(prefix)

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.db.scan_range(start, stop)

    def sync(self) -> None:
        """Makes every commit so far durable (an empty synced batch: LevelDB fsyncs its log)."""
        self.db.write({}, sync=True)

    def close(self) -> None:
        self.db.close()
