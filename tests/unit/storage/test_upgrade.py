"""Opening a store upgrades it to the current format once (restate.storage.upgrade), from the bytes of the
golden fixtures written by the release before versioned records (store format 1)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from restate.storage import codec, keys
from restate.storage import records as r
from restate.storage.db import Database, StorageError
from restate.storage.keys import KeyKind
from restate.storage.meta import MetaStore
from restate.storage.partition_store import PartitionStore
from restate.storage.view import PartitionView
from tests.fixtures.storage.write_current import HERE
from tests.unit.storage import samples

INV, OTHER = samples.INV, samples.OTHER
DONE = bytes(range(50, 74))


def v1(name: str) -> bytes:
    return (HERE / f"{name}.bin").read_bytes()


def write_format_1_shard(path: Path) -> None:
    """A shard as the release before versioned records left it (without the live index of even older ones)."""
    db = Database(path)
    db.write({
        keys.status_key(INV): v1("status.v1.suspended"),
        keys.status_key(DONE): v1("status.v1.completed"),
        keys.journal_key(INV, 0): b"\x00\x00input-frame",
        keys.state_key("Counter", "k1", b"count"): b"7",
        keys.lock_key("Counter", "k1"): v1("lock.v1.holder"),
        keys.inbox_key("Counter", "k1", 3): v1("inbox.v1.invocation"),
        keys.inbox_key("Counter", "k1", 4): v1("inbox.v1.state_replacement"),
        keys.timer_key(5, INV, 1): v1("timer.v1.any"),
        keys.timer_key(9, DONE, 0xFFFFFFFF): v1("timer.v1.any"),
        keys.promise_key("Signup", "k1", "p"): v1("promise.v1.waiting"),
        keys.outbox_key(1, 77): v1("outbox.v1.invocation"),
        keys.dedup_key("p1"): v1("dedup.v1.row"),
        keys.fsm_key("inbox"): v1("sequence.v1.row"),
        keys.fsm_key("outbox/1"): v1("sequence.v1.row"),
        keys.fsm_key("stats/inbox"): keys.u64(99),  # stale counts: the upgrade counts again
        keys.fsm_key("stats/timers"): keys.u64(99),
    })  # fmt: skip
    db.close()


def test_a_format_1_shard_is_upgraded_when_opened(tmp_path: Path) -> None:
    write_format_1_shard(tmp_path / "p")
    store = PartitionStore(tmp_path / "p")
    try:
        view = PartitionView(store)
        assert view.store_format() == codec.STORE_FORMAT
        assert view.status(INV) == samples.status(samples.states()["suspended"])
        assert view.status(DONE) == samples.completed_status()
        assert list(view.live()) == [(INV, "suspended")]  # built from the statuses
        assert view.queue_counts() == r.QueueCountsRecord(inbox=2, timers=2)  # counted, not the stale rows
        assert view.journal_frames(INV) == [b"\x00\x00input-frame"]  # raw values untouched
        assert view.state("Counter", "k1") == [(b"count", b"7")]
        assert view.lock_holder("Counter", "k1") == INV
        replacement = samples.samples()["inbox.state_replacement"][1]
        assert isinstance(replacement, r.InboxRecord)
        items = [(seq, entry.item) for _, _, seq, entry in view.inbox_entries()]
        assert items == [(3, r.QueuedInvocation(invocation_id=INV)), (4, replacement.item)]
        assert list(view.timers_due(10)) == [(5, INV, 1), (9, DONE, 0xFFFFFFFF)]
        assert view.promise("Signup", "k1", "p") == samples.samples()["promise.waiting"][1]
        assert list(view.outbox()) == [(1, 77, samples.outbox_items()[0])]
        assert (view.last_applied(1), view.sequence("inbox"), view.sequence("outbox/1")) == (2**40 + 1, 77, 77)
        legacy_rows = [keys.fsm_name(k) for k, _ in store.scan(KeyKind.FSM.value)]
        assert sorted(legacy_rows) == sorted([keys.FORMAT, keys.INBOX_SEQ, "outbox/1", keys.QUEUE_COUNTS])
    finally:
        store.close()


def test_a_format_2_shard_gets_statuses_and_outbox_rows_of_version_3(tmp_path: Path) -> None:
    db = Database(tmp_path / "p")
    db.write({
        keys.fsm_key(keys.FORMAT): codec.encode(r.StoreFormatRecord(format=2)),
        keys.status_key(INV): (HERE / "status.v2.suspended.msgpack").read_bytes(),
        keys.outbox_key(1, 77): (HERE / "outbox.v2.invocation.msgpack").read_bytes(),
        keys.outbox_key(1, 78): (HERE / "outbox.v2.response.msgpack").read_bytes(),
        keys.lock_key("Counter", "k1"): (HERE / "lock.v2.holder.msgpack").read_bytes(),
    })  # fmt: skip
    db.close()
    store = PartitionStore(tmp_path / "p")
    try:
        view = PartitionView(store)
        assert view.store_format() == 3
        assert view.status(INV) == samples.status(samples.states()["suspended"])
        assert view.status(INV).trace is None  # type: ignore[union-attr]
        assert list(view.outbox()) == [(1, 77, samples.outbox_items()[0]), (1, 78, samples.outbox_items()[1])]
        assert view.lock_holder("Counter", "k1") == INV
        assert msgspec.msgpack.decode(store.get(keys.status_key(INV)) or b"")["v"] == 3  # rewritten at version 3
    finally:
        store.close()


def test_the_upgrade_runs_once(tmp_path: Path) -> None:
    write_format_1_shard(tmp_path / "p")
    PartitionStore(tmp_path / "p").close()
    db = Database(tmp_path / "p")
    before = dict(db.scan(b""))
    db.close()
    PartitionStore(tmp_path / "p").close()  # already at the current format: nothing is read as format 1
    db = Database(tmp_path / "p")
    assert dict(db.scan(b"")) == before
    db.close()


def test_a_new_shard_is_marked_with_the_current_format(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p")
    try:
        assert PartitionView(store).store_format() == codec.STORE_FORMAT
    finally:
        store.close()


def test_a_shard_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "p")
    db.write({keys.fsm_key(keys.FORMAT): codec.encode(r.StoreFormatRecord(format=codec.STORE_FORMAT + 1))})
    db.close()
    newer = rf"has store format {codec.STORE_FORMAT + 1}; this release reads up to {codec.STORE_FORMAT}"
    with pytest.raises(StorageError, match=newer):
        PartitionStore(tmp_path / "p")
    Database(tmp_path / "p").close()  # the refused store was closed (LevelDB's lock released)


def test_an_unreadable_format_1_value_is_a_storage_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "p")
    db.write({keys.status_key(INV): b"\xc1not msgpack"})
    db.close()
    with pytest.raises(StorageError, match="a value of store format 1 cannot be read"):
        PartitionStore(tmp_path / "p")


def test_a_format_1_metadata_store_is_upgraded(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta")
    db.write({keys.meta_key("schema"): v1("schema.v1.registry"), keys.meta_key("num_partitions"): b"4"})
    db.close()
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_schema() == samples.schema()
        assert meta.num_partitions() == 4
    finally:
        meta.close()
    db = Database(tmp_path / "meta")
    assert db.get(keys.meta_key("num_partitions")) is None
    db.close()


def write_format_2_meta(path: Path) -> None:
    """A metadata store as the release of store format 2 left it: the registry model inside SchemaRecord v2."""
    db = Database(path)
    db.write({
        keys.meta_key(keys.FORMAT): codec.encode(r.StoreFormatRecord(format=2)),
        keys.meta_key("schema"): (HERE / "schema.v2.full.msgpack").read_bytes(),
        keys.meta_key("settings"): (HERE / "settings.v2.row.msgpack").read_bytes(),
    })  # fmt: skip
    db.close()


def test_a_format_2_metadata_store_is_upgraded(tmp_path: Path) -> None:
    write_format_2_meta(tmp_path / "meta")
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_schema() == samples.full_schema()
        assert meta.num_partitions() == 4
    finally:
        meta.close()
    db = Database(tmp_path / "meta")
    try:
        assert db.get(keys.meta_key("schema")) == codec.encode(samples.full_schema_record())
        assert db.get(keys.meta_key(keys.FORMAT)) == codec.encode(r.StoreFormatRecord(format=codec.META_FORMAT))
    finally:
        db.close()


def test_a_format_1_metadata_store_goes_through_every_step(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta")
    db.write({keys.meta_key("schema"): v1("schema.v1.registry")})
    db.close()
    MetaStore(tmp_path / "meta").close()
    db = Database(tmp_path / "meta")
    try:
        assert db.get(keys.meta_key("schema")) == codec.encode(samples.schema_record())
        assert db.get(keys.meta_key(keys.FORMAT)) == codec.encode(r.StoreFormatRecord(format=codec.META_FORMAT))
    finally:
        db.close()


def test_a_metadata_store_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta")
    db.write({keys.meta_key(keys.FORMAT): codec.encode(r.StoreFormatRecord(format=codec.META_FORMAT + 1))})
    db.close()
    with pytest.raises(StorageError, match=rf"has store format {codec.META_FORMAT + 1}; this release reads up to 3"):
        MetaStore(tmp_path / "meta")
    Database(tmp_path / "meta").close()  # the refused store was closed


def test_an_unreadable_format_2_registry_is_a_storage_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta")
    db.write({
        keys.meta_key(keys.FORMAT): codec.encode(r.StoreFormatRecord(format=2)),
        keys.meta_key("schema"): codec.encode({"v": 2, "schema": {"services": 7}}),
    })  # fmt: skip
    db.close()
    with pytest.raises(StorageError, match="a value of store format 2 cannot be read"):
        MetaStore(tmp_path / "meta")
    db = Database(tmp_path / "meta")
    try:  # nothing was written: the store is still at format 2, its registry as it was
        assert db.get(keys.meta_key(keys.FORMAT)) == codec.encode(r.StoreFormatRecord(format=2))
    finally:
        db.close()
