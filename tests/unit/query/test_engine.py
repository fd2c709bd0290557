"""restate.admin.query.engine: SQL over partition stores (through a local scanner) and admin's registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from restate import ids
from restate.admin.query.encode import json_rows
from restate.admin.query.engine import QueryEngine, QueryError, QueryResult
from restate.admin.query.scan import ScanUnavailable
from restate.partition.commands import InvokeCmd
from restate.wire import ScanFilter, TableRows
from tests.unit.partition.harness import GREETER, Partition, counter_add, make_schema, new_id, request, sink
from tests.unit.query.scenario import LocalScanner, Scenario, text

N = 2


def run(engine: QueryEngine, sql: str) -> QueryResult:
    return asyncio.run(engine.execute(sql))


def rows(engine: QueryEngine, sql: str) -> list[dict[str, Any]]:
    import json

    result = run(engine, sql)
    found: list[dict[str, Any]] = json.loads(json_rows(result.schema, result.batches))["rows"]
    return found


def failure(engine: QueryEngine, sql: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(engine, sql)
    return caught.value


@pytest.fixture
def single(scenario: Scenario) -> tuple[QueryEngine, LocalScanner, Scenario]:
    scanner = LocalScanner({0: scenario.store})
    return QueryEngine(scanner, 1, make_schema), scanner, scenario


class World:
    """N partitions; every invocation is applied to the partition that owns it."""

    def __init__(self, root: Path) -> None:
        self.partitions = [Partition(root / f"p{i}", partition_id=i, num_partitions=N) for i in range(N)]
        self.scanner = LocalScanner({i: p.store for i, p in enumerate(self.partitions)})
        self.engine = QueryEngine(self.scanner, N, make_schema)

    def invoke(self, req: Any) -> bytes:
        pk = ids.InvocationId.from_bytes(req.invocation_id).partition_key
        self.partitions[ids.partition_for(pk, N)].apply(InvokeCmd(req, sink(), True))
        return req.invocation_id  # type: ignore[no-any-return]

    def close(self) -> None:
        for p in self.partitions:
            p.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


# --- the official CLI's queries (docs/reference/transcripts/cli_*.txt)


def test_invocations_list(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, s = single
    ids_ = rows(engine, "SELECT id FROM sys_invocation inv WHERE status != 'completed' "
                        "ORDER BY inv.created_at DESC, inv.id LIMIT 100")  # fmt: skip
    assert len(ids_) == 7 and text(s.completed) not in {r["id"] for r in ids_}
    count = run(
        engine, "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'"
    )
    assert count.schema.field(0).type == pa.int64() and count.schema.field(0).name == "count(Int64(1))"
    assert count.batches[0].column(0)[0].as_py() == 7


def test_invocation_detail_joins_the_deployment(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, s = single
    (row,) = rows(engine, f"""SELECT inv.id, inv.target, inv.status, inv.created_at, inv.retry_count as num_retries,
        inv.last_attempt_server, inv.pinned_deployment_id, dp.id IS NOT NULL as pinned_deployment_exists
        FROM sys_invocation inv LEFT JOIN sys_deployment dp ON dp.id = inv.pinned_deployment_id
        WHERE inv.id = '{text(s.running)}' AND inv.id in ('{text(s.running)}')""")
    assert row == {
        "id": text(s.running), "target": "Counter/k1/add", "status": "running",
        "created_at": "2023-11-14T22:13:20.015Z",
        "num_retries": 1, "pinned_deployment_id": "dp_12PgsFJ82wRXepxIaMzIdLr", "pinned_deployment_exists": True,
    }  # fmt: skip (no sdk_version in the harness's deployment: no last_attempt_server)


def test_journal_and_column_probes(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, s = single
    for columns, expected in (("'promise_name'", 1), ("'version', 'entry_json', 'appended_at'", 3)):
        result = run(engine, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' "
                             f"AND column_name IN ({columns})")  # fmt: skip
        assert result.batches[0].column(0).type == pa.int64() and result.batches[0].column(0)[0].as_py() == expected
    journal = rows(engine, f"SELECT sj.index, sj.entry_type, sj.sleep_wakeup_at, sj.name FROM sys_journal sj "
                           f"WHERE sj.id = '{text(s.running)}' ORDER BY index DESC LIMIT 100")  # fmt: skip
    assert journal == [
        {"index": 2, "entry_type": "Command: Sleep", "sleep_wakeup_at": "2023-11-14T22:14:20Z", "name": "nap"},
        {"index": 1, "entry_type": "Command: SetState", "name": ""},
        {"index": 0, "entry_type": "Command: Input", "name": ""},
    ]


def test_services_status_queries(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, s = single
    pending = rows(engine, """SELECT target_service_name, target_handler_name, 'pending' as status,
        COUNT(1) as num_invocations, MIN(created_at) as oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest
        FROM sys_invocation_status WHERE status == 'inboxed' AND target_service_name IN ('Counter','Greeter')
        GROUP BY target_service_name, target_handler_name""")
    assert pending == [{"target_service_name": "Counter", "target_handler_name": "add", "status": "pending",
                        "num_invocations": 1, "oldest_at": "2023-11-14T22:13:20.015Z", "oldest": text(s.inboxed)}]
    by_status = rows(engine, """SELECT status, COUNT(1) as n FROM sys_invocation
        WHERE target_service_name IN ('Greeter') GROUP BY status ORDER BY status""")
    assert by_status == [
        {"status": "backing-off", "n": 1}, {"status": "completed", "n": 2}, {"status": "paused", "n": 1},
        {"status": "scheduled", "n": 1}, {"status": "suspended", "n": 1},
    ]  # fmt: skip
    inbox = rows(engine, "SELECT service_name, service_key, COUNT(1) as num_pending FROM sys_inbox "
                         "WHERE service_name IN ('Counter','Signup') GROUP BY service_name, service_key")
    assert inbox == [{"service_name": "Counter", "service_key": "k1", "num_pending": 1}]
    locks = rows(engine, """SELECT target_service_key as service_key, first_value(id) as holder, 0 as num_pending,
        sum(retry_count) as num_retries FROM sys_invocation WHERE status != 'pending'
        AND target_service_name IN ('Counter') GROUP BY target_service_name, target_service_key, status""")
    assert locks == [{"service_key": "k1", "holder": text(s.running), "num_pending": 0, "num_retries": 1}]


def test_state_and_registry_tables(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, _ = single
    assert rows(engine, "select key, value from state where service_name = 'Counter' and service_key = 'k1' ;") == [
        {"key": "count", "value": "31"}
    ]
    assert rows(engine, "SELECT name, ty, revision FROM sys_service ORDER BY name") == [
        {"name": "Counter", "ty": "virtual_object", "revision": 1}, {"name": "Greeter", "ty": "service", "revision": 1},
        {"name": "Signup", "ty": "workflow", "revision": 1},
    ]  # fmt: skip
    (deployment,) = rows(engine, "SELECT * FROM sys_deployment")
    assert deployment["ty"] == "http" and deployment["services"] == ["Counter", "Greeter", "Signup"]


def test_schemas_of_the_answers(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, _ = single
    result = run(engine, "SELECT id, status, created_at, completion_retention, suspended_waiting_for_completions "
                         "FROM sys_invocation")  # fmt: skip
    assert [(f.name, f.type, f.nullable) for f in result.schema] == [
        ("id", pa.large_string(), True), ("status", pa.large_string(), False),
        ("created_at", pa.timestamp("ms", tz="+00:00"), True), ("completion_retention", pa.duration("ms"), True),
        ("suspended_waiting_for_completions", pa.list_(pa.uint32()), True),
    ]  # fmt: skip
    value = run(engine, "SELECT value FROM state")
    assert value.schema.field(0).type == pa.large_binary()


# --- pushdown: what is asked of which partition


def test_one_invocation_reads_one_partition(world: World) -> None:
    high = world.invoke(request(GREETER, invocation_id=new_id(partition_key=(1 << 63) + 5)))
    low = world.invoke(request(GREETER, invocation_id=new_id(partition_key=5)))
    assert rows(world.engine, f"SELECT id, status FROM sys_invocation WHERE id = '{text(high)}'") == [
        {"id": text(high), "status": "running"}
    ]
    assert [(c[0], c[1], c[2]) for c in world.scanner.calls] == [
        (1, "sys_invocation", [ScanFilter("id", "in", [text(high)])])
    ]
    world.scanner.calls.clear()
    found = rows(world.engine, "SELECT id FROM sys_invocation ORDER BY id")
    assert {r["id"] for r in found} == {text(high), text(low)}
    assert sorted(c[0] for c in world.scanner.calls) == [0, 1]  # everything: all partitions


def test_keys_route_to_their_partition(world: World) -> None:
    for key in ("a", "b", "c", "d"):
        world.invoke(request(counter_add(key), b"1"))
    owner = ids.partition_for(ids.partition_key_for("c"), N)
    found = rows(world.engine, "SELECT id, target FROM sys_invocation WHERE target_service_key = 'c'")
    assert [r["target"] for r in found] == ["Counter/c/add"]
    assert [c[0] for c in world.scanner.calls] == [owner]
    world.scanner.calls.clear()
    assert rows(world.engine, "SELECT COUNT(*) AS n FROM sys_keyed_service_status") == [{"n": 4}]
    assert world.scanner.calls[0][3] == []  # COUNT(*) reads no column: the partitions count the rows


def test_unknown_ids_read_nothing(world: World) -> None:
    assert rows(world.engine, "SELECT * FROM sys_journal WHERE id = 'inv_1nope'") == []
    assert world.scanner.calls == []


# --- errors


def test_errors(single: tuple[QueryEngine, LocalScanner, Scenario]) -> None:
    engine, _, _ = single
    bad = failure(engine, "SELEC 1")
    assert bad.status == 400 and bad.message.startswith("Datafusion error: SQL error: ParserError(")
    unknown = failure(engine, "SELECT nope FROM sys_invocation")
    assert unknown.status == 500  # as the real server answered (HTTP-API.md 2.7)
    assert unknown.message.startswith("Datafusion error: Schema error: No field named nope.")
    missing = failure(engine, "SELECT * FROM nope")  # 500 too on the real server
    assert (missing.status, missing.message) == (
        500, "Datafusion error: Error during planning: table 'restate.public.nope' not found",
    )  # fmt: skip
    assert failure(engine, "SELECT id FROM sys_invocation GROUP BY status").status == 500
    assert failure(engine, "SELECT sum(id) FROM sys_invocation").status == 400
    ddl = failure(engine, "CREATE TABLE x AS SELECT 1")
    assert ddl.status == 400
    assert ddl.message == "Datafusion error: Error during planning: DDL not supported: CreateMemoryTable"
    assert failure(engine, "INSERT INTO sys_service VALUES ('a', 1, true, 'service', 'dp')").status == 400
    assert failure(engine, "SELECT 1/0").status == 500
    assert rows(engine, "SELECT 1 AS one;") == [{"one": 1}]  # a trailing `;` is fine
    assert rows(engine, "SET datafusion.execution.batch_size = 100") == []  # statements are allowed
    assert failure(engine, "SELECT 1; SELECT 2").status == 500


class FailingScanner:
    def __init__(self, error: Exception | None = None, message: str | None = None) -> None:
        self.error, self.message = error, message

    async def scan(
        self,
        partition: int,
        table: str,
        filters: list[ScanFilter],
        columns: list[str] | None,
        limit: int | None,
        order: tuple[str, bool] | None = None,
    ) -> TableRows:
        if self.error is not None:
            raise self.error
        return TableRows(0, [], [], self.message)


def test_partition_failures() -> None:
    down = QueryEngine(FailingScanner(ScanUnavailable("partition 1 did not answer within 15s")), 2, make_schema)
    error = failure(down, "SELECT * FROM sys_invocation")
    assert (error.status, error.message) == (503, "Query service not available: partition 1 did not answer within 15s")
    broken = QueryEngine(FailingScanner(message="OSError: boom"), 2, make_schema)
    error = failure(broken, "SELECT * FROM state")
    assert error.status == 500 and error.message.endswith("partition 0: OSError: boom")
    assert rows(down, "SELECT name FROM sys_service WHERE name = 'Greeter'") == [{"name": "Greeter"}]  # no scan


def test_counted_and_plain_answers_make_one_batch() -> None:
    from restate.admin.query.engine import to_batch

    counted = TableRows(0, ["status"], [["completed", "running"]], count=3, repeats=[2, 1])
    plain = TableRows(0, ["status", "id"], [["paused"], ["inv_x"]], count=1)
    empty = TableRows(0, [], [], count=2)
    batch = to_batch("sys_invocation", [counted, plain, empty], make_schema())
    assert batch.schema.names[0] == "id" and batch.num_rows == 6
    assert batch.column("status").to_pylist() == ["completed", "completed", "running", "paused", "", ""]
    assert batch.column("id").to_pylist() == [None, None, None, "inv_x", None, None]


def test_columns_no_partition_sent_cost_no_allocation_per_row() -> None:
    """COUNT(*) or counts by a few columns over many rows: the ~50 columns not read share one zeroed buffer
    (nothing allocated per column and row), and the counted columns are repeated by Arrow."""
    from restate.admin.query.engine import to_batch
    from restate.admin.query.schemas import SCHEMAS

    rows_ = 1_000_000
    to_batch("sys_invocation", [TableRows(0, [], [], count=8)], make_schema())  # warm up
    before = pa.total_allocated_bytes()
    counted = TableRows(0, ["status", "completion_result"], [["completed", "running"], ["success", None]],
                        count=2, repeats=[rows_ - 1, 1])  # fmt: skip
    batches = [to_batch(table, [TableRows(0, [], [], count=rows_)], make_schema()) for table in SCHEMAS]
    batches.append(to_batch("sys_invocation", [counted, TableRows(0, [], [], count=rows_)], make_schema()))
    grown = pa.total_allocated_bytes() - before
    # the two counted columns of 2 million rows (values and offsets), not 60-odd columns of nulls per table
    assert grown < 64 * 2 * rows_, grown
    for batch in batches:
        batch.validate(full=True)
        assert all(batch.column(f.name).null_count == batch.num_rows for f in batch.schema if f.nullable
                   and f.name not in ("status", "completion_result"))  # fmt: skip
    counts = batches[-1].column("status").value_counts().to_pylist()
    assert sorted((c["values"], c["counts"]) for c in counts) == [("", rows_), ("completed", rows_ - 1),
                                                                 ("running", 1)]  # fmt: skip
    assert batches[-1].column("completion_result").null_count == rows_ + 1
