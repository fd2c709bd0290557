"""restate.storage.state_cache: the encoded eager state per key, kept equal to the store by every commit, and
the attempt's StartMessage built from it (restate.invoker.attempt_start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.invoker import attempt_start
from restate.protocol import FrameDecoder, decode_message
from restate.storage.partition_store import PartitionStore
from restate.storage.state_cache import StateCache
from restate.storage.tables import Tables
from restate.storage.view import PartitionView


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    found = PartitionStore(tmp_path / "p0")
    yield found
    found.close()


class Counting:
    """attempt_start.state_entry, counting its calls (the per-entry work)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, name: bytes, value: bytes) -> bytes:
        self.calls += 1
        return attempt_start.state_entry(name, value)


def _write(store: PartitionStore, *changes: tuple[str, str, bytes, bytes | None]) -> None:
    txn = store.transaction()
    tables = Tables(txn)
    for service, key, name, value in changes:
        if value is None:
            tables.clear_state(service, key, name)
        else:
            tables.set_state(service, key, name, value)
    txn.commit()


def _entries(encoded: bytes) -> dict[bytes, bytes]:
    from restate.protocol._generated import service_protocol_pb2 as pb

    start = pb.StartMessage()
    start.ParseFromString(encoded)
    return {e.key: e.value for e in start.state_map}


def _get(cache: StateCache, store: PartitionStore, service: str, key: str) -> dict[bytes, bytes]:
    snapshot = store.db.snapshot()
    try:
        return _entries(cache.get(snapshot, service, key).encoded)
    finally:
        snapshot.close()


def test_commits_keep_a_cached_key_equal_to_the_store(store: PartitionStore) -> None:
    encode = Counting()
    store.state_cache = cache = StateCache(encode, min_entries=2)
    _write(store, *[("Obj", "big", f"k{i}".encode(), b"v%d" % i) for i in range(100)], ("Obj", "other", b"a", b"1"))
    assert _get(cache, store, "Obj", "big") == {f"k{i}".encode(): b"v%d" % i for i in range(100)}
    assert encode.calls == 100 and len(cache) == 1
    _write(store, ("Obj", "big", b"k5", b"new"), ("Obj", "big", b"k7", None), ("Obj", "big", b"added", b"x"),
           ("Obj", "other", b"a", b"2"))  # fmt: skip
    assert encode.calls == 102  # the two entries written to the cached key, nothing else
    expected = dict(PartitionView(store).state("Obj", "big"))
    assert _get(cache, store, "Obj", "big") == expected and expected[b"k5"] == b"new" and b"k7" not in expected
    assert encode.calls == 102  # served from the cache: no entry read or encoded again
    txn = store.transaction()
    Tables(txn).clear_all_state("Obj", "big")
    txn.commit()
    assert _get(cache, store, "Obj", "big") == {}
    assert _get(cache, store, "Obj", "other") == {b"a": b"2"}  # one entry: read, not cached
    assert len(cache) == 1


def test_least_recently_used_keys_go_beyond_the_byte_budget(store: PartitionStore) -> None:
    cache = StateCache(attempt_start.state_entry, max_bytes=2500, min_entries=1)
    for key in ("a", "b", "c"):
        _write(store, *[("Obj", key, f"n{i}".encode(), b"x" * 100) for i in range(8)])
    for key in ("a", "b", "a", "c"):
        _get(cache, store, "Obj", key)
    assert len(cache) == 2  # b went first: a was used again after it
    assert _get(cache, store, "Obj", "b") == {f"n{i}".encode(): b"x" * 100 for i in range(8)}


def _start(body: bytes) -> tuple[dict[bytes, bytes], bool, int]:
    """(state map, partial_state, frames after the StartMessage) of an attempt's request body."""
    from restate.protocol._generated import service_protocol_pb2 as pb

    frames = FrameDecoder().push(body)
    start = decode_message(frames[0].type, frames[0].payload)
    assert isinstance(start, pb.StartMessage) and start.key == "big" and start.known_entries == 1
    return {e.key: e.value for e in start.state_map}, start.partial_state, len(frames) - 1


@pytest.mark.parametrize("lazy", [False, True])
def test_the_start_message_carries_the_cached_state(store: PartitionStore, lazy: bool) -> None:
    from tests.unit.storage.samples import INV, status

    store.state_cache = cache = attempt_start.new_state_cache()
    entries = {f"k{i}".encode(): b"%d" % i for i in range(50)}
    _write(store, *[("Counter", "big", name, value) for name, value in entries.items()])
    stored = attempt_start.StoredInvocation(status(), [b"\x04\x00\x00\x00\x00\x00\x00\x00"], None)
    snapshot = store.db.snapshot()
    stored.state = cache.get(snapshot, "Counter", "big")
    snapshot.close()
    stored.status.target = stored.status.target.__class__(service="Counter", handler="add", key="big")
    body = attempt_start.body(INV, stored, now_ms=0, retry_count=0, lazy_state=lazy)
    assert _start(body) == (({}, True, 1) if lazy else (entries, False, 1))


def test_state_above_the_eager_limit_is_left_to_lazy_reads(
    store: PartitionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.storage.samples import INV, status

    monkeypatch.setattr(attempt_start, "EAGER_STATE_LIMIT", 100)
    _write(store, *[("Counter", "big", f"k{i}".encode(), b"x" * 10) for i in range(20)])
    snapshot = store.db.snapshot()
    state = attempt_start.new_state_cache().get(snapshot, "Counter", "big")
    stored = attempt_start.StoredInvocation(status(), [b"\x04\x00\x00\x00\x00\x00\x00\x00"], state)
    snapshot.close()
    stored.status.target = stored.status.target.__class__(service="Counter", handler="add", key="big")
    assert _start(attempt_start.body(INV, stored, now_ms=0, retry_count=0, lazy_state=False)) == ({}, True, 1)
