"""Deterministic apply: the same log entries applied to fresh stores give the same stored bytes and the
same actions, in this process or another (other hash seed), from the entries or from their bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from restate.partition import actions, commands
from restate.partition.command_log import FORMAT_VERSION, decode_entry, encode_entry
from tests.unit.command_log import fixtures
from tests.unit.command_log.replay import Trace, replay
from tests.unit.command_log.scenario import record

ROOT = Path(__file__).resolve().parents[3]


def test_the_recorded_entries_give_the_same_bytes_and_actions_on_two_fresh_stores(tmp_path: Path) -> None:
    entries = [decode_entry(e) for e in fixtures.read_scenario(FORMAT_VERSION)]
    first, second = replay(entries, tmp_path / "a"), replay(entries, tmp_path / "b")
    assert first.store and first == second


def test_entries_read_back_from_their_bytes_apply_like_the_originals(tmp_path: Path) -> None:
    originals = record(tmp_path / "recorded")
    decoded = [decode_entry(encode_entry(e)) for e in originals]
    assert decoded == originals
    assert replay(originals, tmp_path / "a") == replay(decoded, tmp_path / "b")


def test_the_recorded_run_replays_to_the_same_store_as_the_run_itself(tmp_path: Path) -> None:
    """Replaying the entries of a run rebuilds exactly the store the run left behind."""
    from restate.storage.partition_store import PartitionStore

    entries = record(tmp_path / "run")
    store = PartitionStore(tmp_path / "run")
    try:
        left_behind = list(store.scan(b""))
    finally:
        store.close()
    assert replay(entries, tmp_path / "replayed").store == left_behind


def test_other_processes_with_other_hash_seeds_replay_to_the_same_fingerprint(tmp_path: Path) -> None:
    entries_file = fixtures.version_dir(FORMAT_VERSION) / fixtures.SCENARIO_FILE
    here = replay([decode_entry(e) for e in fixtures.read_scenario(FORMAT_VERSION)], tmp_path / "here").digest()
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        args = [sys.executable, "-m", "tests.unit.command_log.replay", str(entries_file), str(tmp_path / seed)]
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == here, f"PYTHONHASHSEED={seed}"


def test_the_recorded_run_uses_every_command_and_produces_every_action(tmp_path: Path) -> None:
    entries = [decode_entry(e) for e in fixtures.read_scenario(FORMAT_VERSION)]
    used = {type(c) for e in entries for c in e.commands}
    assert used == set(commands.Command.__args__)  # type: ignore[attr-defined]
    trace: Trace = replay(entries, tmp_path / "store")
    produced = {name for actions in trace.actions for name, _ in actions}
    every_action = {t.__name__ for t in actions.Action.__args__}  # type: ignore[attr-defined]
    assert produced == every_action, f"never produced: {every_action - produced}"
    assert any(len(e.commands) > 1 for e in entries), "no batch of several commands"
    assert len({e.now_ms for e in entries}) > 5, "the clock never moves"
    assert msgspec.msgpack.decode(encode_entry(entries[0]))["v"] == FORMAT_VERSION
