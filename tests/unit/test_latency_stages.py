"""Stage timestamps (restate/stage_trace.py) and their analysis (bench/latency_stages.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bench import latency_stages as ls
from restate import stage_trace


def test_marks_are_off_without_the_variable_and_appended_per_process_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(stage_trace.ENV, raising=False)
    assert not importlib.reload(stage_trace).ENABLED
    monkeypatch.setenv(stage_trace.ENV, str(tmp_path / "stages"))
    traced = importlib.reload(stage_trace)
    try:
        assert traced.ENABLED
        traced.mark("ingress: request in")
        traced.mark("partition: committed")
        [written] = (tmp_path / "stages").glob("stages.*")
        events = ls.read_events(tmp_path / "stages")
        assert [stage for _, stage in events] == ["ingress: request in", "partition: committed"]
        assert events[0][0] <= events[1][0] and written.name.startswith("stages.")
    finally:
        monkeypatch.delenv(stage_trace.ENV)
        importlib.reload(stage_trace)


def _call(start: int, gaps: list[tuple[int, str]]) -> list[tuple[int, str]]:
    events, t = [(start, ls.CLIENT_SEND)], start
    for gap, stage in gaps:
        t += gap
        events.append((t, stage))
    return events


def test_the_typical_path_s_intervals_ignoring_what_follows_the_answer() -> None:
    path = [(100_000, "ingress: request in"), (50_000, "partition: committed"), (20_000, ls.INGRESS_ANSWERED)]
    calls = [
        _call(0, [*path, (1_000, "invoker: HTTP/2 write"), (30_000, ls.CLIENT_RECEIVE)]),  # closing frames: dropped
        _call(1_000_000, [*path, (10_000, ls.CLIENT_RECEIVE)]),
        _call(2_000_000, [(900_000, "ingress: request in"), (1, ls.CLIENT_RECEIVE)]),  # another path
    ]
    events = sorted([e for call in calls for e in call] + [(999_000, "p0: bus send")])  # between calls: dropped
    found = ls.split_calls(events)
    assert len(found) == 3 and found[0][-2] == (170_000, ls.INGRESS_ANSWERED)
    rows, count, total = ls.breakdown(found)
    assert count == 2
    assert [(a, b) for a, b, _, _ in rows] == [
        (ls.CLIENT_SEND, "ingress: request in"),
        ("ingress: request in", "partition: committed"),
        ("partition: committed", ls.INGRESS_ANSWERED),
        (ls.INGRESS_ANSWERED, ls.CLIENT_RECEIVE),
    ]
    assert [median for _, _, median, _ in rows] == [100.0, 50.0, 20.0, 20.5]
    assert total == 190.5
    table = ls.markdown("noop", rows, count, found, total)
    assert (
        "2 of 3 calls took this path" in table and "| ingress: request in | partition: committed | 50 | 50 |" in table
    )


def test_a_late_mark_of_the_previous_answer_does_not_cut_the_next_call_short() -> None:
    # Under load the ingress marks "response written" after its write returns: the client may have read the
    # answer and sent the next request by then, so that mark lands inside the next call.
    first = _call(0, [(50, ls.INGRESS_IN), (100, ls.INGRESS_ANSWERED), (30, ls.CLIENT_RECEIVE)])
    second = _call(1_000, [(40, ls.INGRESS_IN), (90, ls.INGRESS_ANSWERED), (20, ls.CLIENT_RECEIVE)])
    stray = (1_010, ls.INGRESS_ANSWERED)
    [_, parsed] = ls.split_calls(sorted([*first, *second, stray]))
    assert [stage for _, stage in parsed] == [ls.CLIENT_SEND, ls.INGRESS_IN, ls.INGRESS_ANSWERED, ls.CLIENT_RECEIVE]
