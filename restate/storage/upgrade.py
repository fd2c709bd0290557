"""Brings a store to the current format when it is opened: once, one atomic batch per format step.

A shard or metadata store carries its format in a `format` row (records.StoreFormatRecord). A store
without one was written by the release before versioned records (format 1) unless it is empty; a store
of a newer format is refused (this release cannot read it). Each upgrade step reads every value of the
previous format with that format's frozen structs (legacy_v1, legacy_v2) and writes it in the next format.
Shards are at codec.STORE_FORMAT, the metadata store at codec.META_FORMAT (each store counts its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from restate.storage import codec, keys, legacy_v1, legacy_v2
from restate.storage import records as r
from restate.storage.db import Database, StorageError
from restate.storage.keys import KeyKind

log = logging.getLogger(__name__)

Puts = dict[bytes, bytes | None]
#: Each earlier format's reader per record kind, turning its bytes into the current record (golden tests).
READERS: dict[int, dict[str, Callable[[bytes], msgspec.Struct]]] = {1: legacy_v1.READERS, 2: legacy_v2.READERS}
_PARTITION_FORMAT_KEY = keys.fsm_key(keys.FORMAT)
_META_FORMAT_KEY = keys.meta_key(keys.FORMAT)
SCHEMA_KEY = keys.meta_key("schema")
SETTINGS_KEY = keys.meta_key("settings")
_LEGACY_NUM_PARTITIONS_KEY = keys.meta_key("num_partitions")


def open_partition(db: Database, where: str) -> None:
    """Upgrades a partition shard to codec.STORE_FORMAT (or marks a new one); raises StorageError when
    it was written by a newer release."""
    _open(db, where, _PARTITION_FORMAT_KEY, codec.STORE_FORMAT, {1: partition_v1_to_v2, 2: partition_v2_to_v3})


def open_meta(db: Database, where: str) -> None:
    """The same for the metadata store, to codec.META_FORMAT."""
    _open(db, where, _META_FORMAT_KEY, codec.META_FORMAT, {1: meta_v1_to_v2, 2: meta_v2_to_v3})


def _open(
    db: Database, where: str, format_key: bytes, current: int, steps: dict[int, Callable[[Database], Puts]]
) -> None:
    raw = db.get(format_key)
    if raw is not None:
        found: int | None = codec.decode_store_format(raw).format
    else:
        found = None if _is_empty(db) else 1  # written before stores carried their format
    if found == current:
        return
    if found is not None and found > current:
        raise StorageError(f"{where} has store format {found}; this release reads up to {current}")
    if found is None:
        db.write({format_key: codec.encode(r.StoreFormatRecord(format=current))})
        return
    log.info("upgrading %s from store format %d to %d", where, found, current)
    for version in range(found, current):
        try:
            puts = steps[version](db)  # reads what the step before wrote
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise StorageError(f"{where}: a value of store format {version} cannot be read: {exc}") from exc
        # each step is one atomic batch with its format row: a crash between steps resumes at the next one
        puts[format_key] = codec.encode(r.StoreFormatRecord(format=version + 1))
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
        puts[key] = codec.encode(legacy_v2.as_v2(status))
        if status.status != "completed":
            puts[keys.live_key(keys.invocation_of(key))] = codec.encode(r.LiveRecord(status=status.status))
    rows = {KeyKind.PROMISE: "promise", KeyKind.INBOX: "inbox", KeyKind.TIMERS: "timer", KeyKind.LOCK: "lock",
            KeyKind.OUTBOX: "outbox", KeyKind.DEDUP: "dedup"}  # fmt: skip
    counts = dict.fromkeys(rows.values(), 0)
    for kind, name in rows.items():
        read = legacy_v1.READERS[name]
        for key, raw in db.scan(kind.value):
            puts[key] = codec.encode(legacy_v2.as_v2(read(raw)))
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
    """The registry wrapped in SchemaRecord version 2, the partition count in SettingsRecord."""
    puts: Puts = {}
    raw = db.get(SCHEMA_KEY)
    if raw is not None:
        puts[SCHEMA_KEY] = codec.encode(legacy_v2.SchemaRecord(schema=legacy_v1.schema(raw)))
    raw = db.get(_LEGACY_NUM_PARTITIONS_KEY)
    if raw is not None:
        puts[_LEGACY_NUM_PARTITIONS_KEY] = None
        puts[SETTINGS_KEY] = codec.encode(legacy_v1.READERS["settings"](raw))
    return puts


# --- format 2 -> 3 ------------------------------------------------------------------------------------------


def partition_v2_to_v3(db: Database) -> Puts:
    """The statuses and outbox messages at version 3 (no trace context: those invocations are not traced)."""
    puts: Puts = {}
    for key, raw in db.scan(KeyKind.STATUS.value):
        puts[key] = codec.encode(legacy_v2.status(raw))
    for key, raw in db.scan(KeyKind.OUTBOX.value):
        puts[key] = codec.encode(legacy_v2.outbox(raw))
    return puts



def meta_v2_to_v3(db: Database) -> Puts:
    """The registry in storage-owned records (SchemaRecord version 3); the settings are unchanged."""
    raw = db.get(SCHEMA_KEY)
    return {} if raw is None else {SCHEMA_KEY: codec.encode(legacy_v2.schema(raw))}
