"""restate.introspection.status_counts: counts kept by the commits equal a fresh scan, whatever changes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from restate.introspection import table_scan
from restate.introspection.status_counts import CREATED, StatusCounts
from restate.partition.commands import InvokeCmd
from restate.wire import ScanFilter, ScanTable, TableRows
from tests.unit.partition.harness import GREETER, counter_add, request, sink
from tests.unit.query.scenario import Scenario, text


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _answer(s: Scenario, counts: StatusCounts | None, columns: list[str], *filters: ScanFilter) -> dict[Any, int]:
    snapshot = s.store.db.snapshot()
    try:
        found = [step for step in table_scan.steps(snapshot, ScanTable(1, "sys_invocation", list(filters), columns),
                                                   counts) if step is not None][0]  # fmt: skip
    finally:
        snapshot.close()
    assert isinstance(found, TableRows) and found.error is None
    if not columns:
        return {(): found.count or 0}
    return dict(zip(zip(*found.values, strict=True), found.repeats or [], strict=True))


def _more_work(s: Scenario) -> None:
    p = s.partition
    extra = request(GREETER, b'"Hal"')
    p.apply(InvokeCmd(extra, sink(), True))
    p.finish(extra.invocation_id, b'"done"')
    p.finish(s.running, b"1")  # k1's lock passes to the inboxed one
    queued = request(counter_add("k9"), b"3")
    p.apply(InvokeCmd(queued, sink(), True))


def test_kept_counts_follow_every_commit(scenario: Scenario) -> None:
    s = scenario
    clock = Clock()
    counts = StatusCounts(clock)
    s.store.status_watch = counts
    assert not counts.active
    by_status = ["target_service_name", "status"]
    first = _answer(s, counts, by_status)
    assert counts.active and first == _answer(s, None, by_status)
    _more_work(s)
    kept = _answer(s, counts, by_status)
    assert kept == _answer(s, None, by_status) != first
    greeter = ScanFilter("target_service_name", "in", ["Greeter"])
    assert _answer(s, counts, ["status"], greeter) == _answer(s, None, ["status"], greeter)
    assert _answer(s, counts, [], greeter) == _answer(s, None, [], greeter)
    assert _answer(s, counts, []) == _answer(s, None, []) == {(): 11}  # COUNT(*): the counts by state, summed


def test_changes_committed_while_the_counts_are_built_are_applied(scenario: Scenario) -> None:
    s = scenario
    counts = StatusCounts(Clock())
    s.store.status_watch = counts
    snapshot = s.store.db.snapshot()
    steps = table_scan.steps(snapshot, ScanTable(1, "sys_invocation", [], ["status"]), counts)
    next(steps)  # the scan has started over the snapshot (and yields after its first chunk, or answers)
    _more_work(s)  # commits during the scan
    list(steps)
    snapshot.close()
    assert _answer(s, counts, ["status"]) == _answer(s, None, ["status"])


def test_counts_nobody_asks_for_are_dropped(scenario: Scenario) -> None:
    s = scenario
    clock = Clock()
    counts = StatusCounts(clock, idle_s=60)
    s.store.status_watch = counts
    _answer(s, counts, ["status"])
    clock.now = 61
    assert not counts.active and counts.get(("state",)) is None
    seen: list[Any] = []
    counts.statuses_committed = seen.append  # type: ignore[method-assign]
    _more_work(s)
    assert seen == []  # no previous status read nor reported while nobody counts
    assert _answer(s, counts, ["status"]) == _answer(s, None, ["status"])


def test_a_count_is_answered_without_a_scan_once_kept(scenario: Scenario) -> None:
    s = scenario
    counts = StatusCounts(Clock())
    s.store.status_watch = counts
    _answer(s, counts, ["status"])

    class NoScan:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"read the store: {name}")

    found = [step for step in table_scan.steps(NoScan(), ScanTable(2, "sys_invocation", [], ["status"]), counts)
             if step is not None][0]  # fmt: skip
    assert isinstance(found, TableRows) and found.error is None
    assert Counter(dict(zip(found.values[0], found.repeats or [], strict=True)))["completed"] == 2


def _top(s: Scenario, counts: StatusCounts | None, k: int, descending: bool, *filters: ScanFilter) -> list[Any]:
    snapshot = s.store.db.snapshot()
    try:
        message = ScanTable(1, "sys_invocation", list(filters), ["id", "created_at", "status"], k, "created_at",
                            descending)  # fmt: skip
        found = [step for step in table_scan.steps(snapshot, message, counts) if step is not None][0]
    finally:
        snapshot.close()
    assert isinstance(found, TableRows) and found.error is None
    return sorted(zip(*found.values, strict=True))


def test_newest_first_from_the_kept_creation_order_equals_a_scan(scenario: Scenario) -> None:
    s = scenario
    counts = StatusCounts(Clock())
    s.store.status_watch = counts
    cases = [(k, descending, filters) for k in (0, 1, 2, 5, 50) for descending in (True, False)
             for filters in ((), (ScanFilter("status", "not_in", ["completed"]),),
                             (ScanFilter("target_service_name", "in", ["Greeter"]),))]  # fmt: skip
    for k, descending, filters in cases:
        assert _top(s, counts, k, descending, *filters) == _top(s, None, k, descending, *filters), (k, filters)
    assert counts.created() is not None
    _more_work(s)
    s.partition.manage(s.completed, "purge")  # a deleted status leaves the order
    assert text(s.completed) not in [row[0] for row in _top(s, None, 50, True)]
    for k, descending, filters in cases:
        assert _top(s, counts, k, descending, *filters) == _top(s, None, k, descending, *filters), (k, filters)
    kept = counts.created()
    stored = sorted(inv for inv, _ in s.partition.tables.statuses())
    assert kept is not None and sorted(inv for _, inv in kept) == stored  # the purged one left the order


def test_newest_first_reads_pages_of_the_kept_order_without_copying_it(scenario: Scenario) -> None:
    s = scenario
    counts = StatusCounts(Clock())
    s.store.status_watch = counts
    expected = _top(s, None, 2, True)
    assert _top(s, counts, 2, True) == expected  # builds the order

    def no_copy() -> Any:
        raise AssertionError("the whole creation-time order was copied")

    counts.created = no_copy  # type: ignore[method-assign]
    for k, descending in ((0, True), (1, False), (2, True), (50, True), (50, False)):
        assert _top(s, counts, k, descending) == _top(s, None, k, descending), (k, descending)


def test_pages_of_the_creation_order_stay_right_while_commits_change_it() -> None:
    counts = StatusCounts(Clock())
    counts.start(CREATED)
    counts.finish_created([(t, b"%d" % t) for t in range(0, 100, 10)])
    first = counts.created_page(None, 3, True)
    assert first == [(90, b"90"), (80, b"80"), (70, b"70")]
    counts._created.insert(0, (-1, b"x"))  # type: ignore[union-attr]  # a commit shifts every position
    counts._created.remove((60, b"60"))  # type: ignore[union-attr]
    assert counts.created_page(first[-1], 2, True) == [(50, b"50"), (40, b"40")]
    assert counts.created_page((40, b"40"), 2, False) == [(50, b"50"), (70, b"70")]
    assert counts.created_page((0, b"0"), 5, True) == [(-1, b"x")]
    assert counts.created_page(None, 0, True) == [] and StatusCounts(Clock()).created_page(None, 1, True) is None
