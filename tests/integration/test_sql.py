"""SQL introspection (`POST /query`) over known invocations, run against the real restate-server 1.7.12 and ours.

One server + tests/services/lifecycle.py per kind; the `known` fixture creates one invocation in each
state, then the tests check the rows SQL shows for them, as JSON (`Accept: application/json`) and as
Arrow (anything else, read with pyarrow). Expected values are what the real server answers; where ours
differs on purpose a comment says so. Test ids contain `real` / `ours`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyarrow as pa
import pytest

from restate import ids
from tests.integration.lifecycle_support import SERVER_KINDS, LifecycleStack, start_stack, unique, wait_until

PARTITIONS = 2
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"


@dataclass
class Known:
    """The invocations the tests look at, by what they are doing."""

    stack: LifecycleStack
    kind: str
    echo: str  # Echo/echo("hi"): completed
    box: str  # StateBox/k1/put({"a": 1, "b": "x"}): completed, left state a=1, b="x" on k1
    waiting: str  # Waiter/wait: running, awaiting an awakeable
    holder: str  # Locker/<key>/gated_append: holds the key's lock, suspended on an awakeable
    queued: str  # Locker/<key>/append: inboxed behind `holder`
    locker_key: str
    delayed: str  # Echo/echo with a one-hour delay: scheduled
    broken: str  # Broken/fail: fails every attempt (retries every 2 s)
    workflow: str  # Signup/<key>/run: completed after its promise `approval` was resolved with "boss"
    workflow_key: str

    def query(self, sql: str, accept: str | None = JSON, **kwargs: Any) -> httpx.Response:
        headers = {"accept-encoding": "identity"}
        if accept is not None:
            headers["accept"] = accept
        return self.stack.admin("POST", "/query", json={"query": sql}, headers=headers, **kwargs)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        resp = self.query(sql)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == JSON
        found: list[dict[str, Any]] = resp.json()["rows"]
        return found

    def arrow(self, sql: str) -> pa.Table:
        resp = self.query(sql, accept="*/*")
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == ARROW
        return pa.ipc.open_stream(resp.content).read_all()

    def status(self, inv: str) -> str:
        found = self.rows(f"SELECT status FROM sys_invocation WHERE id = '{inv}'")
        return str(found[0]["status"]) if found else "<none>"


def _call_id(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    return resp.headers["x-restate-id"]


@pytest.fixture(scope="module", params=SERVER_KINDS)
def known(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Known]:
    with start_stack(request.param, tmp_path_factory.mktemp(f"sql-{request.param}"), PARTITIONS) as stack:
        echo = _call_id(stack.call("Echo/echo", "hi"))
        box = _call_id(stack.call("StateBox/k1/put", {"a": 1, "b": "x"}))
        label = unique("w")
        waiting = stack.send("Waiter/wait", label)
        stack.awakeable(label)
        locker_key = unique("L")
        holder = stack.send(f"Locker/{locker_key}/gated_append", "g1")
        stack.awakeable(f"{locker_key}/g1")
        queued = stack.send(f"Locker/{locker_key}/append", "a2")
        delayed = stack.server.send("Echo/echo", "later", delay="1h").json()["invocationId"]
        broken = stack.send("Broken/fail", unique("b"))
        workflow_key = unique("u")
        workflow = stack.send(f"Signup/{workflow_key}/run", "Ann")
        assert stack.call(f"Signup/{workflow_key}/approve", "boss").status_code == 200
        assert stack.attach(workflow).status_code == 200
        k = Known(stack, request.param, echo, box, waiting, holder, queued, locker_key, delayed, broken, workflow,
                  workflow_key)  # fmt: skip
        wait_until(lambda: k.status(holder), lambda s: s == "suspended", "gated_append suspended (1 s inactivity)")
        wait_until(lambda: k.status(broken), lambda s: s == "backing-off", "Broken/fail backing off")
        yield k


# --- sys_invocation and sys_invocation_status


def test_derived_and_raw_statuses(known: Known) -> None:
    k = known
    expected = {
        k.echo: ("completed", "completed"),
        k.box: ("completed", "completed"),
        k.waiting: ("running", "invoked"),
        k.holder: ("suspended", "suspended"),
        k.queued: ("pending", "inboxed"),
        k.delayed: ("scheduled", "scheduled"),
        k.workflow: ("completed", "completed"),
    }
    id_list = ", ".join(f"'{i}'" for i in expected)
    derived = {r["id"]: r["status"] for r in k.rows(f"SELECT id, status FROM sys_invocation WHERE id IN ({id_list})")}
    raw_rows = k.rows(f"SELECT id, status FROM sys_invocation_status WHERE id IN ({id_list})")
    raw = {r["id"]: r["status"] for r in raw_rows}
    assert derived == {i: d for i, (d, _) in expected.items()}
    assert raw == {i: r for i, (_, r) in expected.items()}
    (broken,) = k.rows(f"SELECT status, retry_count, last_failure FROM sys_invocation WHERE id = '{k.broken}'")
    assert broken["status"] == "backing-off" and broken["retry_count"] >= 1
    assert "Exception('broken " in broken["last_failure"]


def test_invocation_columns(known: Known) -> None:
    k = known
    (row,) = k.rows(f"SELECT * FROM sys_invocation WHERE id = '{k.echo}'")
    assert row["target"] == "Echo/echo" and row["target_service_name"] == "Echo"
    assert row["target_handler_name"] == "echo" and row["target_service_ty"] == "service"
    assert row["invoked_by"] == "ingress" and row["completion_result"] == "success"
    assert row["pinned_service_protocol_version"] in (5, 6, 7) and row["pinned_deployment_id"].startswith("dp_1")
    assert row["journal_size"] >= 2 and row["created_using_restate_version"] == "1.7.12"
    for column in ("created_at", "modified_at", "completed_at"):
        assert TIMESTAMP.match(row[column]), (column, row[column])
    assert "completion_failure" not in row and "target_service_key" not in row  # nulls are left out
    (delayed,) = k.rows(f"SELECT * FROM sys_invocation WHERE id = '{k.delayed}'")
    assert TIMESTAMP.match(delayed["scheduled_start_at"]) and "pinned_deployment_id" not in delayed
    (holder,) = k.rows(
        f"SELECT target, target_service_key, target_service_ty FROM sys_invocation WHERE id = '{k.holder}'"
    )
    assert holder == {"target": f"Locker/{k.locker_key}/gated_append", "target_service_key": k.locker_key,
                      "target_service_ty": "virtual_object"}  # fmt: skip
    (status,) = k.rows(f"SELECT partition_key, target FROM sys_invocation_status WHERE id = '{k.holder}'")
    assert status["partition_key"] == ids.InvocationId.parse(k.holder).partition_key  # u64, a plain number


def test_cli_invocation_queries(known: Known) -> None:
    """`restate invocations list` and `describe`: the id query, the Arrow count and the detail join."""
    k = known
    active = {r["id"] for r in k.rows("SELECT id FROM sys_invocation inv WHERE status != 'completed' "
                                      "ORDER BY inv.created_at DESC, inv.id LIMIT 100")}  # fmt: skip
    assert {k.waiting, k.holder, k.queued, k.delayed, k.broken} <= active and k.echo not in active
    count = k.arrow("SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'")
    assert count.schema == pa.schema([pa.field("count(Int64(1))", pa.int64(), nullable=False)])
    assert count.column(0)[0].as_py() >= 5
    (detail,) = k.rows(f"""SELECT inv.id, inv.target, inv.status, inv.modified_at as state_modified_at,
        inv.retry_count as num_retries, inv.last_attempt_server, dp.id IS NOT NULL as pinned_deployment_exists
        FROM sys_invocation inv LEFT JOIN sys_deployment dp ON dp.id = inv.pinned_deployment_id
        WHERE inv.id = '{k.waiting}' AND inv.id in ('{k.waiting}')""")
    assert detail["status"] == "running" and detail["num_retries"] == 1 and detail["pinned_deployment_exists"] is True
    assert detail["last_attempt_server"] == "restate-sdk-python/1.3.0"
    missing = "inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY"
    assert k.rows(f"SELECT id FROM sys_invocation inv WHERE inv.id = '{missing}' LIMIT 1") == []


# --- sys_journal


def test_journal(known: Known) -> None:
    k = known
    journal = k.rows(f"SELECT sj.index, sj.entry_type, sj.name, sj.version, sj.entry_json, sj.appended_at "
                     f"FROM sys_journal sj WHERE sj.id = '{k.echo}' ORDER BY index")  # fmt: skip
    assert [r["entry_type"] for r in journal] == ["Command: Input", "Command: Output"]
    assert [r["version"] for r in journal] == [2, 2] and [r["name"] for r in journal] == ["", ""]
    entry = json.loads(journal[0]["entry_json"])["Command"]["Input"]
    assert bytes(entry["payload"]) == b'"hi"'
    assert json.loads(journal[1]["entry_json"]) == {
        "Command": {"Output": {"result": {"Success": list(b'"echo hi"')}, "name": ""}}
    }
    assert TIMESTAMP.match(journal[0]["appended_at"])
    holder = k.rows(f"SELECT index, entry_type, name FROM sys_journal WHERE id = '{k.holder}' ORDER BY index")
    assert holder[:3] == [{"index": 0, "entry_type": "Command: Input", "name": ""},
                          {"index": 1, "entry_type": "Command: Run", "name": "publish"},
                          {"index": 2, "entry_type": "Notification: Run"}]  # fmt: skip
    probes = [("'promise_name'", 1), ("'version', 'entry_json', 'appended_at'", 3)]
    for columns, expected in probes:
        table = k.arrow("SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' "
                        f"AND column_name IN ({columns})")  # fmt: skip
        assert table.schema.field(0).type == pa.int64() and table.column(0)[0].as_py() == expected


# --- state, inbox, promises, locks, registry


def test_state(known: Known) -> None:
    k = known
    rows = k.rows("SELECT service_name, service_key, key, value, value_utf8, value_length FROM state "
                  "WHERE service_name = 'StateBox' AND service_key = 'k1' ORDER BY key")  # fmt: skip
    assert rows == [
        {"service_name": "StateBox", "service_key": "k1", "key": "a", "value": "31", "value_utf8": "1",
         "value_length": 1},
        {"service_name": "StateBox", "service_key": "k1", "key": "b", "value": "227822", "value_utf8": '"x"',
         "value_length": 3},
    ]  # fmt: skip
    value = k.arrow("SELECT key, value FROM state WHERE service_name = 'StateBox' AND service_key = 'k1' ORDER BY key")
    assert value.schema.field("value").type == pa.large_binary() and value.column("value")[1].as_py() == b'"x"'
    assert value.schema.field("key").type == pa.large_string()


def test_inbox_promises_and_locks(known: Known) -> None:
    k = known
    (inbox,) = k.rows(f"SELECT service_name, service_key, id FROM sys_inbox WHERE service_key = '{k.locker_key}'")
    assert inbox == {"service_name": "Locker", "service_key": k.locker_key, "id": k.queued}
    pending = k.rows("SELECT service_name, service_key, COUNT(1) as num_pending FROM sys_inbox "
                     "WHERE service_name IN ('Locker') GROUP BY service_name, service_key ORDER BY num_pending DESC")
    assert {"service_name": "Locker", "service_key": k.locker_key, "num_pending": 1} in pending
    (promise,) = k.rows(f"SELECT * FROM sys_promise WHERE service_key = '{k.workflow_key}'")
    assert isinstance(promise.pop("partition_key"), int)  # the real server hashes keys differently
    assert promise == {
        "service_name": "Signup",        "service_key": k.workflow_key, "key": "approval", "completed": True,
        "completion_success_value": b'"boss"'.hex(), "completion_success_value_utf8": '"boss"',
    }  # fmt: skip
    (lock,) = k.rows(f"SELECT service_name, invocation_id FROM sys_keyed_service_status "
                     f"WHERE service_key = '{k.locker_key}'")  # fmt: skip
    assert lock == {"service_name": "Locker", "invocation_id": k.holder}


def test_registry_tables(known: Known) -> None:
    k = known
    services = {r["name"]: r for r in k.rows("SELECT * FROM sys_service")}
    assert services["Echo"]["ty"] == "service" and services["Locker"]["ty"] == "virtual_object"
    assert services["Signup"]["ty"] == "workflow" and services["Echo"]["revision"] == 1
    (deployment,) = k.rows("SELECT * FROM sys_deployment")
    assert deployment["id"] == services["Echo"]["deployment_id"] and deployment["ty"] == "http"
    assert deployment["endpoint"] == k.stack.service.url and "Echo" in deployment["services"]
    assert deployment["min_service_protocol_version"] == 5 and TIMESTAMP.match(deployment["created_at"])


def test_arrow_types(known: Known) -> None:
    k = known
    table = k.arrow(f"SELECT id, status, created_at, completion_retention, retry_count FROM sys_invocation "
                    f"WHERE id = '{k.echo}'")  # fmt: skip
    assert [(f.name, f.type, f.nullable) for f in table.schema] == [
        ("id", pa.large_string(), True), ("status", pa.large_string(), False),
        ("created_at", pa.timestamp("ms", tz="+00:00"), True), ("completion_retention", pa.duration("ms"), True),
        ("retry_count", pa.uint64(), True),
    ]  # fmt: skip
    assert table.num_rows == 1 and table.column("status")[0].as_py() == "completed"
    tables = k.arrow("SELECT table_catalog, table_name FROM information_schema.tables WHERE table_schema = 'public'")
    assert set(tables.column("table_catalog").to_pylist()) == {"restate"}
    names = set(tables.column("table_name").to_pylist())
    for name in ("sys_invocation", "sys_invocation_status", "sys_journal", "state", "sys_inbox", "sys_promise",
                 "sys_service", "sys_deployment", "sys_keyed_service_status"):  # fmt: skip
        assert name in names


# --- errors and the request


def test_errors(known: Known) -> None:
    k = known
    bad = k.query("SELEC 1")
    assert bad.status_code == 400 and bad.headers["content-type"] == JSON
    assert bad.json()["message"].startswith("Datafusion error: SQL error: ParserError(")
    unknown = k.query("SELECT nope FROM sys_invocation")
    assert unknown.status_code == 500  # the real server answers 500 for an unknown column (HTTP-API.md 2.7)
    assert unknown.json()["message"].startswith("Datafusion error: Schema error: No field named nope.")
    missing_table = k.query("SELECT * FROM sys_nope")  # a planning error, but 500 on the real server too
    assert missing_table.status_code == 500
    assert missing_table.json() == {
        "message": "Datafusion error: Error during planning: table 'restate.public.sys_nope' not found"
    }
    ddl = k.query("CREATE TABLE x AS SELECT 1")
    assert (ddl.status_code, ddl.json()) == (
        400, {"message": "Datafusion error: Error during planning: DDL not supported: CreateMemoryTable"},
    )  # fmt: skip
    text = k.stack.admin("POST", "/query", content=b'{"query":"SELECT 1"}', headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert k.stack.admin("POST", "/query", json={"sql": "SELECT 1"}).status_code == 422


# (query, status, the message or its start): what restate-server 1.7.12 answers (issue 10, point 6)
SQL_ERRORS = [
    ("SELECT * FROM nope", 500, "Datafusion error: Error during planning: table 'restate.public.nope' not found"),
    ("SELECT nope FROM sys_invocation", 500,
     "Datafusion error: Schema error: No field named nope. Valid fields are sys_invocation.id, "),
    ("SELECT id FROM sys_invocation ORDER BY nope", 400,
     "Datafusion error: Schema error: No field named nope. Valid fields are "),
    ("SELECT 1 LIMIT -1", 500,
     "Datafusion error: Optimizer rule 'eliminate_limit' failed\ncaused by\n"
     "Error during planning: LIMIT must be >= 0, '-1' was provided"),
    ("SELECT 1/0", 500, "Datafusion error: Arrow error: Divide by zero error"),
    ("", 400, "Datafusion error: Error during planning: No SQL statements were provided in the query string"),
    ("INSERT INTO state VALUES (1)", 400,
     "Datafusion error: Error during planning: Inconsistent data length across values list: "
     "got 1 values in row 0 but expected 9"),
    ("INSERT INTO state SELECT * FROM state", 400,
     "Datafusion error: Error during planning: DML not supported: Insert Into"),
    ("SELECT abs()", 400, "Datafusion error: Error during planning: 'abs' does not support zero arguments."),
    ("SELECT 1 2", 500, 'Datafusion error: SQL error: ParserError("Expected: end of statement, found: 2 at Line: 1'),
]  # fmt: skip


JSON_BODY = {"content-type": JSON}


@pytest.mark.parametrize(("sql", "status", "message"), SQL_ERRORS)
def test_sql_errors_answer_as_the_real_server(known: Known, sql: str, status: int, message: str) -> None:
    resp = known.query(sql)
    assert (resp.status_code, resp.headers["content-type"], list(resp.json())) == (status, JSON, ["message"])
    assert resp.json()["message"].startswith(message), resp.json()["message"]


def test_query_bodies_are_read_as_serde_reads_them(known: Known) -> None:
    surrogate = known.stack.admin("POST", "/query", content=b'{"query":"\\ud800"}', headers=JSON_BODY)
    assert (surrogate.status_code, surrogate.text) == (
        400, "Failed to parse the request body as JSON: query: unexpected end of hex escape at line 1 column 17",
    )  # fmt: skip
    duplicate = known.stack.admin("POST", "/query", content=b'{"query":"1","query":"2"}', headers=JSON_BODY)
    assert (duplicate.status_code, duplicate.text) == (
        422, "Failed to deserialize the JSON body into the target type: duplicate field `query` at line 1 column 20",
    )  # fmt: skip
    array = known.stack.admin("POST", "/query", json=["SELECT 1 AS a"], headers={"accept": JSON})
    assert (array.status_code, array.json()) == (200, {"rows": [{"a": 1}]})  # a struct may be a JSON array


def test_accept_negotiation(known: Known) -> None:
    k = known
    for accept in (None, "*/*", "application/json; charset=utf-8", "text/csv"):
        resp = k.query("SELECT 1 AS one", accept=accept)
        assert resp.status_code == 200 and resp.headers["content-type"] == ARROW, accept
    assert k.query("SELECT 1 AS one;").json() == {"rows": [{"one": 1}]}


def test_killed_invocation_shows_its_failure(known: Known) -> None:
    """Last: kills `broken` (other tests expect it backing off)."""
    k = known
    assert k.stack.invocation_op(k.broken, "kill").status_code == 200
    rows = wait_until(
        lambda: k.rows(
            f"SELECT status, completion_result, completion_failure FROM sys_invocation WHERE id = '{k.broken}'"
        ),
        lambda r: r and r[0]["status"] == "completed", "killed invocation completed",
    )  # fmt: skip
    assert rows == [{"status": "completed", "completion_result": "failure", "completion_failure": "[409] killed"}]
