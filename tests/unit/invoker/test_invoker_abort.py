"""The invoker reports a refused attempt even after it ended, so the partition can retry it."""

from __future__ import annotations

from pathlib import Path

import pytest

from restate.config import Config
from restate.invoker.attempt import AttemptMachine
from restate.invoker.attempt_runner import AttemptRunner
from restate.invoker.invoker import Invoker
from restate.partition.commands import AttemptFailedCmd, Command
from restate.protocol import content_type, encode_message, pb
from restate.schema import Schema
from restate.storage.partition_store import PartitionStore

INV = b"\x01" * 24


def _attempt(inv: Invoker, number: int, *, ended: bool) -> AttemptRunner:
    """An attempt of invocation INV, optionally one whose deployment already sent End (taken, not emitted)."""
    machine = AttemptMachine(known_entries=1, version=6, bidi=True)
    if ended:
        machine.notify_opened(0.0)
        machine.notify_response_head(200, content_type(6))
        machine.notify_response_data(encode_message(pb.EndMessage()), 0.0)
        machine.take_outputs()
    return AttemptRunner(INV, number, machine, inv.clients, inv._on_effect, lambda status: None)


@pytest.fixture
def invoker(tmp_path: Path) -> tuple[Invoker, list[Command]]:
    emitted: list[Command] = []
    store = PartitionStore(tmp_path / "p0")
    return Invoker(Config(), store, emitted.append, Schema), emitted


def test_abort_of_a_drained_attempt_reports_a_failure(invoker: tuple[Invoker, list[Command]]) -> None:
    inv, emitted = invoker
    inv.abort(INV, 3, "state writes are not allowed in shared handlers")
    assert len(emitted) == 1
    failed = emitted[0]
    assert isinstance(failed, AttemptFailedCmd)
    assert (failed.invocation_id, failed.attempt, failed.retry_in_ms) == (INV, 3, 500)
    assert failed.failure.message == "state writes are not allowed in shared handlers"


def test_abort_after_end_still_reports_once(invoker: tuple[Invoker, list[Command]]) -> None:
    inv, emitted = invoker
    inv._attempts[INV] = _attempt(inv, 2, ended=True)  # End was already forwarded to the partition, which refused it
    inv.abort(INV, 2, "refused")
    inv.abort(INV, 2, "refused")
    assert [type(c) for c in emitted] == [AttemptFailedCmd]
    assert emitted[0].attempt == 2  # type: ignore[union-attr]


def test_abort_of_an_older_attempt_is_ignored(invoker: tuple[Invoker, list[Command]]) -> None:
    inv, emitted = invoker
    inv._attempts[INV] = _attempt(inv, 5, ended=False)
    inv.abort(INV, 4, "stale")
    assert emitted == []
