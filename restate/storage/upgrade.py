"""Brings a store to the current format when it is opened: once, in one atomic batch.

A shard or metadata store carries its format in a `format` row (records.StoreFormatRecord). A store
without one was written by the release before versioned records (format 1) unless it is empty; a store
of a newer format is refused (this release cannot read it). Each upgrade step reads every value of the
previous format with that format's frozen structs (legacy_v1) and writes it in the next format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from restate.storage import codec, keys, legacy_v1
from restate.storage import records as r
from restate.storage.db import Database, StorageError
from restate.storage.keys import KeyKind

log = logging.getLogger(__name__)

Puts = dict[bytes, bytes | None]
#: Each earlier format's reader per record kind, turning its bytes into the current record (golden tests).
READERS: dict[int, dict[str, Callable[[bytes], msgspec.Struct]]] = {1: legacy_v1.READERS}
_PARTITION_FORMAT_KEY = keys.fsm_key(keys.FORMAT)
_META_FORMAT_KEY = keys.meta_key(keys.FORMAT)
SCHEMA_KEY = keys.meta_key("schema")
SETTINGS_KEY = keys.meta_key("settings")
_LEGACY_NUM_PARTITIONS_KEY = keys.meta_key("num_partitions")


def open_partition(db: Database, where: str) -> None:
    """Upgrades a partition shard to codec.STORE_FORMAT (or marks a new one); raises StorageError when
    it was written by a newer release."""
    _open(db, where, _PARTITION_FORMAT_KEY, {1: partition_v1_to_v2})


def open_meta(db: Database, where: str) -> None:
    """The same for the metadata store."""
    _open(db, where, _META_FORMAT_KEY, {1: meta_v1_to_v2})


def _open(db: Database, where: str, format_key: bytes, steps: dict[int, Callable[[Database], Puts]]) -> None:
    raw = db.get(format_key)
    if raw is not None:
        found: int | None = codec.decode_store_format(raw).format
    else:
        found = None if _is_empty(db) else 1  # written before stores carried their format
    if found == codec.STORE_FORMAT:
        return
    if found is not None and found > codec.STORE_FORMAT:
        raise StorageError(f"{where} has store format {found}; this release reads up to {codec.STORE_FORMAT}")
    puts: Puts = {}
    if found is not None:
        log.info("upgrading %s from store format %d to %d", where, found, codec.STORE_FORMAT)
        for version in range(found, codec.STORE_FORMAT):
            if puts:
                db.write(puts)  # each step reads what the one before wrote
            try:
                puts = steps[version](db)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                raise StorageError(f"{where}: a value of store format {version} cannot be read: {exc}") from exc
    puts[format_key] = codec.encode(r.StoreFormatRecord(format=codec.STORE_FORMAT))
    db.write(puts)


def _is_empty(db: Database) -> bool:
    return next(iter(db.scan(b"")), None) is None


# --- format 1 -> 2 ------------------------------------------------------------------------------------------


def partition_v1_to_v2(db: Database) -> Puts:
    """Every record of a format-1 shard in format 2; the live index rebuilt from the statuses, the inbox
    and timer counts counted (journal entries and state values are unchanged)."""
    puts: Puts = {}
    for key, _ in db.scan(KeyKind.LIVE.value):
        puts[key] = None
    for key, raw in db.scan(KeyKind.STATUS.value):
        status = legacy_v1.status(raw)
        puts[key] = codec.encode(status)
        if status.status != "completed":
            puts[keys.live_key(keys.invocation_of(key))] = codec.encode(r.LiveRecord(status=status.status))
    rows = {KeyKind.PROMISE: "promise", KeyKind.INBOX: "inbox", KeyKind.TIMERS: "timer", KeyKind.LOCK: "lock",
            KeyKind.OUTBOX: "outbox", KeyKind.DEDUP: "dedup"}  # fmt: skip
    counts = dict.fromkeys(rows.values(), 0)
    for kind, name in rows.items():
        read = legacy_v1.READERS[name]
        for key, raw in db.scan(kind.value):
            puts[key] = codec.encode(read(raw))
            counts[name] += 1
    inbox, timers = counts["inbox"], counts["timer"]
    puts.update(_fsm_v1_to_v2(db))
    puts[keys.fsm_key(keys.QUEUE_COUNTS)] = codec.encode(r.QueueCountsRecord(inbox=inbox, timers=timers))
    return puts


def _fsm_v1_to_v2(db: Database) -> Puts:
    legacy = {keys.LEGACY_LIVE_INDEX_MARKER, keys.LEGACY_INBOX_COUNT, keys.LEGACY_TIMERS_COUNT}
    puts: Puts = {}
    for key, raw in db.scan(KeyKind.FSM.value):
        name = keys.fsm_name(key)
        if name in legacy:
            puts[key] = None
        elif name == keys.INBOX_SEQ or keys.is_outbox_seq_name(name):
            puts[key] = codec.encode(legacy_v1.READERS["sequence"](raw))
        else:
            raise StorageError(f"unknown partition row {name!r} in a store of format 1")
    return puts


def meta_v1_to_v2(db: Database) -> Puts:
    puts: Puts = {}
    raw = db.get(SCHEMA_KEY)
    if raw is not None:
        puts[SCHEMA_KEY] = codec.encode(legacy_v1.READERS["schema"](raw))
    raw = db.get(_LEGACY_NUM_PARTITIONS_KEY)
    if raw is not None:
        puts[_LEGACY_NUM_PARTITIONS_KEY] = None
        puts[SETTINGS_KEY] = codec.encode(legacy_v1.READERS["settings"](raw))
    return puts
