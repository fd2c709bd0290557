"""Whole-state replacement of an object key (HTTP-API.md 2.5 `POST /services/{name}/state`): applied at once on
a free key, queued behind the lock holder otherwise, dropped when the version digest does not match."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from restate import ids
from restate.partition.actions import Reply
from restate.partition.commands import InvokeCmd, RequestCmd
from restate.partition.state_version import state_version
from restate.protocol import MessageType, pb
from restate.wire import Done, ReplaceObjectState
from tests.unit.partition.harness import (
    ADMIN,
    NUM_PARTITIONS,
    Partition,
    counter_add,
    counter_get,
    parse_frame,
    request,
    sink,
    starts,
    the_forward,
)

T = MessageType


def _digest(state: dict[bytes, bytes]) -> str:
    """HTTP-API.md 2.5, written out independently: sort by key; SHA-256 over u64be(i) 01 key 02 value 03; b64url."""
    h = hashlib.sha256()
    for i, key in enumerate(sorted(state)):
        h.update(i.to_bytes(8, "big"))
        h.update(bytes([1]))
        h.update(key)
        h.update(bytes([2]))
        h.update(state[key])
        h.update(bytes([3]))
    return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")


def _replace(
    p: Partition, key: str, new_state: dict[bytes, bytes], version: str | None = None, request_id: int = 7
) -> list:  # type: ignore[type-arg]
    msg = ReplaceObjectState(request_id, "Counter", key, list(new_state.items()), version)
    return p.apply(RequestCmd(ADMIN, msg))


def _invoke(p: Partition, target, request_id: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    req = request(target)
    p.apply(InvokeCmd(req, sink(request_id)))
    return req.invocation_id


def _set(p: Partition, inv: bytes, key: bytes, value: bytes) -> None:
    p.sdk(inv, pb.SetStateCommandMessage(key=key, value=pb.Value(content=value)))


def _seed(p: Partition, key: str, state: dict[bytes, bytes]) -> None:
    inv = _invoke(p, counter_add(key), request_id=99)
    for name, value in state.items():
        _set(p, inv, name, value)
    p.finish(inv)


# --- the version digest


def test_version_digest_matches_the_cli_algorithm() -> None:
    assert state_version([]) == _digest({}) == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"  # sha256("")
    state = {b"count": b"42", b"a": b"", b"name": b'"x"', b"\xff": b"\x00\x01"}
    assert state_version(list(state.items())) == _digest(state)
    assert state_version(sorted(state.items(), reverse=True)) == _digest(state)  # order of the input is irrelevant
    # the position counter is part of the digest: a different key set with the same bytes differs
    assert state_version([(b"ab", b"c")]) != state_version([(b"a", b"bc")])
    assert "=" not in state_version([(b"k", b"v")])


# --- applying


def test_replace_on_a_free_key_is_applied_at_once(partition: Partition) -> None:
    _seed(partition, "k", {b"count": b"1", b"old": b"x"})
    actions = _replace(partition, "k", {b"count": b"42", b"new": b"y"}, request_id=7)
    assert actions == [Reply(ADMIN, Done(7))]
    assert partition.state("Counter", "k") == {b"count": b"42", b"new": b"y"}


def test_replace_with_empty_state_clears_the_key_only(partition: Partition) -> None:
    _seed(partition, "k", {b"count": b"1"})
    _seed(partition, "k2", {b"count": b"2"})
    assert _replace(partition, "k", {}) == [Reply(ADMIN, Done(7))]
    assert partition.state("Counter", "k") == {}
    assert partition.state("Counter", "k2") == {b"count": b"2"}


def test_matching_version_is_applied(partition: Partition) -> None:
    current = {b"count": b"1", b"name": b'"n"'}
    _seed(partition, "k", current)
    _replace(partition, "k", {b"count": b"5"}, version=_digest(current))
    assert partition.state("Counter", "k") == {b"count": b"5"}
    # the version of an empty object
    _replace(partition, "fresh", {b"count": b"1"}, version=_digest({}))
    assert partition.state("Counter", "fresh") == {b"count": b"1"}


def test_wrong_version_is_dropped_but_answered(partition: Partition) -> None:
    _seed(partition, "k", {b"count": b"1"})
    stale = _digest({b"count": b"0"})
    assert _replace(partition, "k", {b"count": b"5"}, version=stale, request_id=8) == [Reply(ADMIN, Done(8))]
    assert partition.state("Counter", "k") == {b"count": b"1"}


def test_replace_on_a_locked_key_waits_for_the_holder(partition: Partition) -> None:
    holder = _invoke(partition, counter_add("k"))
    _set(partition, holder, b"count", b"1")
    assert _replace(partition, "k", {b"count": b"42"}) == [Reply(ADMIN, Done(7))]  # answered once queued
    assert partition.state("Counter", "k") == {b"count": b"1"}
    _set(partition, holder, b"count", b"2")  # the holder keeps working on the old state

    assert starts(partition.finish(holder)) == []
    assert partition.state("Counter", "k") == {b"count": b"42"}
    assert partition.tables.lock_holder("Counter", "k") is None
    assert partition.tables.pop_inbox("Counter", "k") is None  # nothing left queued


def test_queued_replace_is_applied_before_the_next_invocation_starts(partition: Partition) -> None:
    holder = _invoke(partition, counter_add("k"))
    _set(partition, holder, b"count", b"1")
    _replace(partition, "k", {b"count": b"42"})
    after = _invoke(partition, counter_add("k"), request_id=2)
    assert partition.status(after).status == "inboxed"

    assert starts(partition.finish(holder)) == [after]
    assert partition.state("Counter", "k") == {b"count": b"42"}
    assert partition.tables.lock_holder("Counter", "k") == after
    # the next invocation reads the replaced state
    forward = the_forward(partition.sdk(after, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1)))
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.GetLazyStateCompletionNotificationMessage)
    assert notif.value.content == b"42"


def test_queued_replace_keeps_its_place_behind_earlier_invocations(partition: Partition) -> None:
    holder = _invoke(partition, counter_add("k"))
    before = _invoke(partition, counter_add("k"), request_id=2)
    _replace(partition, "k", {b"count": b"42"})
    after = _invoke(partition, counter_add("k"), request_id=3)

    assert starts(partition.finish(holder)) == [before]
    _set(partition, before, b"count", b"7")
    assert partition.state("Counter", "k") == {b"count": b"7"}  # not yet replaced
    assert starts(partition.finish(before)) == [after]
    assert partition.state("Counter", "k") == {b"count": b"42"}


def test_queued_replacements_apply_in_order(partition: Partition) -> None:
    holder = _invoke(partition, counter_add("k"))
    _replace(partition, "k", {b"a": b"1"})
    _replace(partition, "k", {b"b": b"2"})
    partition.finish(holder)
    assert partition.state("Counter", "k") == {b"b": b"2"}


def test_queued_replace_checks_the_version_when_it_is_applied(partition: Partition) -> None:
    """The CLI's version is of the state it read; a holder that changes the state invalidates it."""
    _seed(partition, "k", {b"count": b"1"})
    holder = _invoke(partition, counter_add("k"))
    _replace(partition, "k", {b"count": b"42"}, version=_digest({b"count": b"1"}))
    _set(partition, holder, b"count", b"2")
    partition.finish(holder)
    assert partition.state("Counter", "k") == {b"count": b"2"}  # dropped

    holder = _invoke(partition, counter_add("k"), request_id=2)
    _replace(partition, "k", {b"count": b"42"}, version=_digest({b"count": b"2"}))
    partition.finish(holder)  # the holder did not touch the state: the version still matches
    assert partition.state("Counter", "k") == {b"count": b"42"}


def test_a_shared_handler_does_not_hold_the_key(partition: Partition) -> None:
    reader = _invoke(partition, counter_get("k"))
    _replace(partition, "k", {b"count": b"3"})
    assert partition.state("Counter", "k") == {b"count": b"3"}
    assert partition.status(reader).status == "invoked"


def test_cancelled_inboxed_invocation_does_not_block_a_queued_replace(partition: Partition) -> None:
    holder = _invoke(partition, counter_add("k"))
    queued = _invoke(partition, counter_add("k"), request_id=2)
    _replace(partition, "k", {b"count": b"9"})
    partition.manage(queued, "cancel")
    assert starts(partition.finish(holder)) == []
    assert partition.state("Counter", "k") == {b"count": b"9"}
    assert partition.tables.lock_holder("Counter", "k") is None


def _key_with_top_byte(byte: int) -> str:
    """An object key whose partition key (the first byte of its invocation ids) starts with `byte`."""
    return next(k for k in (f"key-{i}" for i in range(100_000)) if ids.partition_key_for(k) >> 56 == byte)


def test_inboxed_invocation_id_starting_with_the_mutation_tag_is_not_a_mutation(tmp_path: Path) -> None:
    """Inbox values are raw 24-byte invocation ids or b"M" + a StateMutation; an id is 8 bytes of partition key
    first, so every key whose partition key starts with 0x4D ("M", about 1 key in 256) has ids that look tagged."""
    key = _key_with_top_byte(ord("M"))
    pk = ids.partition_key_for(key)
    p = Partition(tmp_path / "p", partition_id=ids.partition_for(pk, NUM_PARTITIONS))
    try:
        holder = _invoke(p, counter_add(key))
        queued = _invoke(p, counter_add(key), request_id=2)
        assert queued.startswith(b"M")
        assert p.status(queued).status == "inboxed"
        assert starts(p.finish(holder)) == [queued]
        assert p.tables.lock_holder("Counter", key) == queued
    finally:
        p.close()
