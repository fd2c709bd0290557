"""Log entries applied by the state machine and by the partition actor's batches: an entry applies only
where it belongs, every command of it sees the entry's clock, and a command that raises is left out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.actors.partition import PartitionActor
from restate.config import Config
from restate.partition import client_requests as requests
from restate.partition.actions import ReplyAccepted
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import InvokeCmd, RequestCmd
from restate.partition.state_machine import CommandFailed, EntryMismatch, StateMachine
from restate.storage.partition_store import PartitionStore
from restate.storage.tables import Tables
from restate.wire import ManageInvocation
from tests.unit.partition.harness import NOW, NUM_PARTITIONS, make_schema, request, sink

BROKEN_NODE = "broken-admin"
POISON_KEY = b"\xff\xffpartial write of a failing command"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    s = PartitionStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def broken_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests from BROKEN_NODE write something, then raise (a bug in a handler)."""
    real = requests.on_request

    def on_request(ctx: ApplyContext, command: RequestCmd) -> None:
        if command.node != BROKEN_NODE:
            return real(ctx, command)
        ctx.tables.txn.put(POISON_KEY, b"x")
        raise RuntimeError("a bug")

    monkeypatch.setattr(requests, "on_request", on_request)


def _broken() -> RequestCmd:
    return RequestCmd(BROKEN_NODE, ManageInvocation(1, request().invocation_id, "cancel"))


@pytest.mark.parametrize(
    ("partition", "num_partitions", "schema_version", "message"),
    [
        (1, NUM_PARTITIONS, 1, "entry of partition 1/4 applied to partition 0/4"),
        (0, 8, 1, "entry of partition 0/8 applied to partition 0/4"),
        (0, NUM_PARTITIONS, 2, "entry needs schema version 2, got 1"),
    ],
)
def test_an_entry_applies_only_where_it_belongs(
    store: PartitionStore, partition: int, num_partitions: int, schema_version: int, message: str
) -> None:
    entry = StateMachine(partition, num_partitions).entry([InvokeCmd(request(), sink())], NOW, schema_version)
    txn = store.transaction()
    with pytest.raises(EntryMismatch, match=message):
        StateMachine(0, NUM_PARTITIONS).apply_entry(txn, entry, make_schema())
    assert txn.is_empty


def test_every_command_of_an_entry_sees_its_clock_and_protocol(store: PartitionStore) -> None:
    first, second = request(), request()
    entry = StateMachine(0, NUM_PARTITIONS, protocol_v7=True).entry(
        [InvokeCmd(first, sink(1)), InvokeCmd(second, sink(2))], NOW + 5, 1
    )
    txn = store.transaction()
    StateMachine(0, NUM_PARTITIONS, protocol_v7=False).apply_entry(txn, entry, make_schema())
    tables = Tables(txn)
    for invocation in (first, second):
        status = tables.status(invocation.invocation_id)
        assert status is not None and status.created_at_ms == NOW + 5
        assert status.protocol_version == 7  # the entry's setting, not the applying machine's


def test_a_failing_command_names_its_position(store: PartitionStore, broken_requests: None) -> None:
    machine = StateMachine(0, NUM_PARTITIONS)
    entry = machine.entry([InvokeCmd(request(), sink()), _broken()], NOW, 1)
    with pytest.raises(CommandFailed) as failed:
        machine.apply_entry(store.transaction(), entry, make_schema())
    assert failed.value.position == 1 and failed.value.command == entry.commands[1]
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert entry.without(1).commands == entry.commands[:1]


@pytest.fixture
def actor(tmp_path: Path) -> Iterator[PartitionActor]:
    a = PartitionActor(Config(base_dir=str(tmp_path / "data"), default_num_partitions=NUM_PARTITIONS), 0)
    a.schema = make_schema()
    yield a
    a.store.close()
    a.node.close()


def test_the_actor_leaves_out_a_failing_command_and_its_writes(
    actor: PartitionActor, broken_requests: None, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = request(), request()
    batch = [InvokeCmd(first, sink(1), send=True), _broken(), InvokeCmd(second, sink(2), send=True)]
    with caplog.at_level(logging.ERROR):
        txn, actions = actor._apply_batch(batch)
    assert POISON_KEY not in txn.writes
    accepted = [a.invocation_id for a in actions if isinstance(a, ReplyAccepted)]
    assert accepted == [first.invocation_id, second.invocation_id]
    tables = Tables(txn)
    created = {tables.status(r.invocation_id).created_at_ms for r in (first, second)}  # type: ignore[union-attr]
    assert len(created) == 1, "one clock reading per batch"
    assert "dropping command that failed to apply" in caplog.text and "RuntimeError: a bug" in caplog.text
