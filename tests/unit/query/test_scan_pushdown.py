"""Pushed-down scans read less and answer the same: restate.introspection.table_scan / invocation_columns and
the engine's pushdown, checked against the same queries run over whole, unfiltered tables."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from restate.admin.query.encode import json_rows
from restate.admin.query.engine import QueryEngine
from restate.introspection import partition_tables, table_scan
from restate.storage.partition_store import PartitionStore
from restate.wire import ScanFilter, ScanTable, TableRows
from tests.unit.partition.harness import make_schema
from tests.unit.query.scenario import LocalScanner, Scenario, text


class Unpushed(LocalScanner):
    """Every scan reads the whole table: all columns, no filter, no limit (the reference answers)."""

    async def scan(
        self,
        partition: int,
        table: str,
        filters: list[ScanFilter],
        columns: list[str] | None,
        limit: int | None,
        order: tuple[str, bool] | None = None,
    ) -> TableRows:
        return await super().scan(partition, table, [], None, None)


def _rows(engine: QueryEngine, sql: str) -> list[str]:
    result = asyncio.run(engine.execute(sql))
    found: list[dict[str, Any]] = json.loads(json_rows(result.schema, result.batches))["rows"]
    return sorted(json.dumps(row, sort_keys=True) for row in found)


QUERIES = [
    "SELECT COUNT(*) FROM sys_invocation",
    "SELECT COUNT(*) FROM sys_invocation_status",
    "SELECT status, COUNT(*) FROM sys_invocation GROUP BY status",
    "SELECT status, COUNT(1) FROM sys_invocation_status GROUP BY status",
    "SELECT COUNT(*) FROM sys_invocation WHERE target_service_name = 'Greeter'",
    "SELECT id, status FROM sys_invocation WHERE target_service_name = 'Greeter' AND status != 'completed'",
    "SELECT COUNT(*) FROM (SELECT id FROM sys_invocation WHERE target_service_name = 'Greeter' LIMIT 3)",
    "SELECT COUNT(*) FROM (SELECT id FROM sys_invocation WHERE status = 'completed' LIMIT 1)",
    "SELECT COUNT(*) FROM (SELECT id FROM sys_invocation_status WHERE status = 'invoked' LIMIT 10)",
    "SELECT target_service_key, COUNT(*) FROM sys_invocation WHERE target_service_key IS NOT NULL GROUP BY 1",
    "SELECT id, invoked_by_id, invoked_by, completion_result FROM sys_invocation WHERE invoked_by = 'service'",
    "SELECT id, completion_failure FROM sys_invocation WHERE completion_result = 'failure'",
    "SELECT id, retry_count, last_failure FROM sys_invocation WHERE status = 'backing-off'",
    "SELECT id FROM sys_invocation WHERE target LIKE 'Counter/%' AND target_handler_name = 'add'",
    "SELECT partition_key, id, created_at, modified_at FROM sys_invocation_status WHERE target_service_ty = 'service'",
    "SELECT COUNT(*) FROM sys_invocation_state",
    "SELECT COUNT(*) FROM sys_journal",
    "SELECT COUNT(*) FROM (SELECT * FROM state LIMIT 1)",
    "SELECT i.id, s.in_flight FROM sys_invocation_status i LEFT JOIN sys_invocation_state s ON s.id = i.id "
    "WHERE i.status = 'invoked'",
    "SELECT * FROM sys_invocation WHERE idempotency_key = 'idem-1'",
    "SELECT id FROM sys_invocation ORDER BY created_at DESC, id LIMIT 3",
    "SELECT id, status FROM sys_invocation ORDER BY created_at, id LIMIT 2",
    "SELECT ss.id AS id FROM sys_invocation_status ss ORDER BY ss.created_at DESC, ss.id LIMIT 4",
    "SELECT id FROM sys_invocation inv WHERE status != 'completed' ORDER BY inv.created_at DESC, inv.id LIMIT 100",
    "SELECT id, journal_size, last_failure FROM sys_invocation WHERE target_service_name = 'Greeter' "
    "ORDER BY modified_at DESC, id LIMIT 2",
    "SELECT id FROM sys_invocation WHERE retry_count >= 0 ORDER BY created_at DESC, id LIMIT 2",
    "SELECT COUNT(*) FROM (SELECT id FROM sys_invocation ORDER BY created_at DESC LIMIT 0)",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_pushed_down_answers_equal_whole_table_answers(scenario: Scenario, sql: str) -> None:
    pushed = QueryEngine(LocalScanner({0: scenario.store}), 1, make_schema)
    whole = QueryEngine(Unpushed({0: scenario.store}), 1, make_schema)
    assert _rows(pushed, sql) == _rows(whole, sql)


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_top_k_pruned_while_scanning_equals_whole_table(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    from restate.introspection import invocation_columns

    monkeypatch.setattr(invocation_columns, "STEP_ROWS", 1)  # prune after every row (bound: 4 candidates)
    pushed = QueryEngine(LocalScanner({0: scenario.store}), 1, make_schema)
    whole = QueryEngine(Unpushed({0: scenario.store}), 1, make_schema)
    for sql in (f"SELECT id, created_at FROM sys_invocation ORDER BY created_at DESC, id LIMIT {k}",
                f"SELECT id FROM sys_invocation_status ORDER BY modified_at, id LIMIT {k}"):  # fmt: skip
        assert _rows(pushed, sql) == _rows(whole, sql)


def test_count_without_filters_reads_no_record(scenario: Scenario) -> None:
    reader = Recording(scenario.store)
    names, values, count, repeats = _result(table_scan.scan_steps(reader, "sys_invocation", [], [], None))
    assert (names, values, count, repeats) == ([], [], 9, None)
    assert reader.values_read == 0 and reader.keys_read == 9


def test_a_limit_stops_the_scan_early(scenario: Scenario) -> None:
    reader = Recording(scenario.store)
    greeter = [ScanFilter("target_service_name", "in", ["Greeter"])]
    _, values, count, _ = _result(table_scan.scan_steps(reader, "sys_invocation", greeter, ["id"], 2))
    assert count == 2 and len(values[0]) == 2
    everything = _result(table_scan.scan_steps(Recording(scenario.store), "sys_invocation", greeter, ["id"], None))
    assert everything[2] > 2
    # the statuses read: the two that pass, and those in between that did not (other services)
    assert reader.values_read < 9


def test_counts_by_status_answer_one_row_per_value(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from restate.storage import codec

    monkeypatch.setattr(codec, "decode_status", lambda *_: pytest.fail("a full decode"))
    greeter = [ScanFilter("target_service_name", "in", ["Greeter"])]
    answer = table_scan.answer(scenario.store.db, ScanTable(1, "sys_invocation", greeter, ["status"]))
    found = dict(zip(answer.values[0], answer.repeats or [], strict=True))
    assert found == {"completed": 2, "backing-off": 1, "scheduled": 1, "suspended": 1, "paused": 1}
    assert answer.count == 6
    by_raw = table_scan.answer(scenario.store.db, ScanTable(2, "sys_invocation_status", [], ["status"]))
    assert dict(zip(by_raw.values[0], by_raw.repeats or [], strict=True))["invoked"] == 3  # incl. backing-off
    count = table_scan.answer(scenario.store.db, ScanTable(3, "sys_invocation", greeter, []))
    assert (count.values, count.count, count.repeats) == ([], 6, None)


def test_usual_columns_come_from_a_partial_decode(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters and columns that a status summary has: no status fully decoded, no full row built, and a row
    failing the filter gets no column at all."""
    from restate.storage import codec

    def refuse(*_: Any) -> Any:
        raise AssertionError("a full decode / row")

    monkeypatch.setattr(partition_tables, "invocation_row", refuse)
    monkeypatch.setattr(codec, "decode_status", refuse)
    ids_made: list[bytes] = []
    from restate.introspection import invocation_columns

    extract_id = invocation_columns.EXTRACTORS["sys_invocation"]["id"]

    def counting(inv_id: bytes, status: Any) -> Any:
        ids_made.append(inv_id)
        return extract_id(inv_id, status)

    monkeypatch.setitem(invocation_columns.EXTRACTORS["sys_invocation"], "id", counting)
    failed = [ScanFilter("completion_result", "in", ["failure"])]
    names, values = table_scan.scan(scenario.store, "sys_invocation", failed, ["id", "status", "target"])
    assert values == [[text(scenario.killed)], ["completed"], ["Greeter/greet"]]
    assert ids_made == [scenario.killed]  # the id text of the one passing row only


def test_rare_columns_decode_only_the_statuses_passing_the_usual_filters(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restate.storage import codec

    decoded: list[bytes] = []
    decode = codec.decode_status

    def counting(raw: bytes) -> Any:
        found = decode(raw)
        decoded.append(raw)
        return found

    monkeypatch.setattr(codec, "decode_status", counting)
    paused = [ScanFilter("status", "in", ["paused"])]
    names, values = table_scan.scan(scenario.store, "sys_invocation", paused, ["id", "journal_size", "retry_count"])
    assert values[0] == [text(scenario.paused)] and len(decoded) == 1


def test_a_top_k_sends_the_best_rows_with_their_ties(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from restate.introspection import invocation_columns

    made: list[bytes] = []
    extract_id = invocation_columns.EXTRACTORS["sys_invocation"]["id"]

    def counting(inv_id: bytes, status: Any) -> Any:
        made.append(inv_id)
        return extract_id(inv_id, status)

    monkeypatch.setitem(invocation_columns.EXTRACTORS["sys_invocation"], "id", counting)
    every = table_scan.scan(scenario.store, "sys_invocation", [], ["created_at"])[1][0]
    made.clear()
    order = ("created_at", True)
    names, values, count, _ = _result(table_scan.scan_steps(scenario.store, "sys_invocation", [], ["id", "created_at"],
                                                            2, order))  # fmt: skip
    second = sorted(every, reverse=True)[1]
    assert sorted(values[1], reverse=True) == sorted((t for t in every if t >= second), reverse=True)
    assert count == len(made) == len(values[0]) >= 2  # ids made for the chosen rows only


def test_invocation_state_reads_only_live_invocations(scenario: Scenario) -> None:
    from restate.storage import keys

    reader = Recording(scenario.store)
    names, values = table_scan.scan(reader, "sys_invocation_state", [], ["id", "in_flight"])
    expected = {scenario.running, scenario.backing_off, scenario.paused, scenario.workflow}
    assert sorted(values[0]) == sorted(text(i) for i in expected)
    assert keys.KeyKind.STATUS.value not in reader.prefixes  # no scan of every stored status
    assert {keys.invocation_of(k) for k in reader.got} <= expected | {scenario.inboxed, scenario.scheduled,
                                                                        scenario.suspended}  # fmt: skip
    assert scenario.completed not in {keys.invocation_of(k) for k in reader.got}


def test_scan_steps_yield_between_chunks(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from restate.introspection import invocation_columns

    monkeypatch.setattr(invocation_columns, "STEP_ROWS", 2)
    steps = list(table_scan.steps(scenario.store, ScanTable(3, "sys_invocation", [], ["id"])))
    assert steps[:-1] == [None] * 4 and isinstance(steps[-1], TableRows)  # 9 statuses, a pause every 2
    assert steps[-1].count == 9 and len(steps[-1].values[0]) == 9
    monkeypatch.setattr(table_scan, "STEP_ROWS", 3)
    steps = list(table_scan.steps(scenario.store, ScanTable(4, "sys_journal", [], ["index"])))
    assert None in steps and isinstance(steps[-1], TableRows) and steps[-1].error is None


def _result(steps: Iterator[Any]) -> Any:
    return [step for step in steps if step is not None][0]


class Recording:
    """A reader over a store that counts the records and the keys read."""

    def __init__(self, store: PartitionStore) -> None:
        self.db = store.db
        self.values_read = 0
        self.keys_read = 0
        self.got: list[bytes] = []
        self.prefixes: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.values_read += 1
        self.got.append(key)
        return self.db.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        self.prefixes.append(prefix)
        for item in self.db.scan(prefix):
            self.values_read += 1
            yield item

    def scan_range(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for item in self.db.scan_range(start, stop):
            self.values_read += 1
            yield item

    def keys(self, prefix: bytes) -> Iterator[bytes]:
        for key in self.db.keys(prefix):
            self.keys_read += 1
            yield key
