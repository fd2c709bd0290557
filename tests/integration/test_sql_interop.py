"""SQL completeness: the statements a client such as the real web UI sends run on ours with the real server's
columns and row shapes.

Both servers run side by side (each with tests/services/lifecycle.py) and get the same invocations: a
finished one, one that left state, a call chain (PrivateCaller -> Private), a workflow with a resolved
promise, a key's lock holder with one invocation queued behind it, a delayed one. Every statement below
runs on both (as Arrow); the test compares the column names and types, the number of rows and, per row,
which columns are null (values such as ids and timestamps differ between the servers by nature).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pyarrow as pa
import pytest

from restate.admin.query.schemas import SCHEMAS
from tests.integration.lifecycle_support import LifecycleStack, start_stack, unique, wait_until

PARTITIONS = 2
ARROW = "application/vnd.apache.arrow.stream"


@dataclass
class Scene:
    """One server's copy of the invocations the statements look at."""

    stack: LifecycleStack
    names: dict[str, str]  # placeholder -> this server's id or key

    def query(self, sql: str) -> tuple[int, pa.Table | str]:
        resp = self.stack.admin("POST", "/query", json={"query": sql.format(**self.names)}, headers={"accept": ARROW})
        if resp.status_code != 200:
            return resp.status_code, resp.text
        return 200, pa.ipc.open_stream(resp.content).read_all()

    def status(self, inv: str) -> str:
        code, table = self.query(f"SELECT status FROM sys_invocation WHERE id = '{inv}'")
        assert code == 200 and isinstance(table, pa.Table), table
        return str(table.column(0)[0].as_py()) if table.num_rows else "<none>"


def _scene(stack: LifecycleStack) -> Scene:
    def call_id(path: str, body: object) -> str:
        resp = stack.call(path, body)
        assert resp.status_code == 200, resp.text
        return resp.headers["x-restate-id"]

    echo = call_id("Echo/echo", "hi")
    box_key = unique("k")
    box = call_id(f"StateBox/{box_key}/put", {"a": 1, "b": "x"})
    caller = call_id("PrivateCaller/call", "ann")
    workflow_key = unique("u")
    workflow = stack.send(f"Signup/{workflow_key}/run", "Ann")
    assert stack.call(f"Signup/{workflow_key}/approve", "boss").status_code == 200
    assert stack.attach(workflow).status_code == 200
    locker_key = unique("L")
    holder = stack.send(f"Locker/{locker_key}/gated_append", "g1")
    stack.awakeable(f"{locker_key}/g1")
    queued = stack.send(f"Locker/{locker_key}/append", "a2")
    delayed = stack.server.send("Echo/echo", "later", delay="1h").json()["invocationId"]
    names = {"echo": echo, "box": box, "box_key": box_key, "caller": caller, "workflow": workflow,
             "workflow_key": workflow_key, "holder": holder, "queued": queued, "locker_key": locker_key,
             "delayed": delayed}  # fmt: skip
    scene = Scene(stack, names)
    wait_until(lambda: scene.status(holder), lambda s: s == "suspended", "gated_append suspended (1 s inactivity)")
    return scene


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Scene]]:
    with ExitStack() as stacks:
        found = {}
        for kind in ("real", "ours"):
            stack = stacks.enter_context(start_stack(kind, tmp_path_factory.mktemp(f"interop-{kind}"), PARTITIONS))
            found[kind] = _scene(stack)
        yield found


_BUCKETS = """CASE
          WHEN ss.status = 'inboxed' THEN 'pending'
          WHEN ss.status = 'invoked' AND sis.in_flight IS TRUE THEN 'running'
          WHEN ss.status = 'invoked' AND sis.retry_count > 0 THEN 'backing-off'
          WHEN ss.status = 'invoked' THEN 'ready'
          WHEN ss.status = 'completed' AND ss.completion_result = 'success' THEN 'succeeded'
          WHEN ss.status = 'completed' THEN 'failed'
          ELSE ss.status
        END"""
_DETAIL_COLUMNS = (
    "id, target, target_service_name, target_service_key, target_handler_name, target_service_ty, idempotency_key, "
    "invoked_by, invoked_by_id, invoked_by_subscription_id, invoked_by_target, restarted_from, pinned_deployment_id, "
    "pinned_service_protocol_version, journal_size, journal_commands_size, created_at, modified_at, inboxed_at, "
    "scheduled_at, scheduled_start_at, running_at, completed_at, completion_retention, journal_retention, "
    "retry_count, last_start_at, next_retry_at, last_attempt_deployment_id, last_attempt_server, last_failure, "
    "last_failure_error_code, status, completion_result, completion_failure"
)
_OURS = "target_service_name IN ('Echo', 'StateBox', 'PrivateCaller', 'Private', 'Signup', 'Locker')"

#: (name, statement): the real UI's statements (docs/reference/ui/ui_sql_queries.txt) and the other shapes any
#: client may use; `{...}` are the scene's ids and keys. Every statement is deterministic for the scene.
STATEMENTS: list[tuple[str, str]] = [
    *[(f"empty {table}", f"SELECT * FROM {table} LIMIT 0") for table in sorted(SCHEMAS)],
    ("probe", "SELECT 1 FROM sys_invocation_status LIMIT 1"),
    ("counts by bucket", f"""SELECT ss.target_service_name AS service_name, {_BUCKETS} AS bucket, COUNT(1) AS count
        FROM sys_invocation_status ss LEFT JOIN sys_invocation_state sis ON sis.id = ss.id
        WHERE ss.created_at > '2020-01-01T00:00:00.000Z' AND ss.{_OURS}
        GROUP BY ss.target_service_name, {_BUCKETS} ORDER BY service_name, bucket"""),
    ("counts by status", f"SELECT status, COUNT(*) AS n FROM sys_invocation WHERE {_OURS} GROUP BY status "
                         "ORDER BY status"),
    ("count", f"SELECT COUNT(*) FROM sys_invocation WHERE {_OURS}"),
    ("filtered count", "SELECT COUNT(*) FROM sys_invocation WHERE target_service_name = 'Echo' "
                       "AND target_handler_name = 'echo'"),
    ("counts by service, handler and status", f"""SELECT target_service_name, target_handler_name, status,
        COUNT(*) AS n FROM sys_invocation WHERE {_OURS} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""),
    ("counts of a column with nulls", f"SELECT COUNT(*) AS n, COUNT(completion_result) AS done "
                                      f"FROM sys_invocation_status WHERE {_OURS}"),
    ("oldest first", f"SELECT ss.id AS id FROM sys_invocation_status ss WHERE ss.{_OURS} "
                     "ORDER BY ss.created_at ASC LIMIT 3"),
    ("unused deployments (CTE, UNION, EXCEPT)", """WITH active_deployments AS (
            SELECT DISTINCT deployment_id AS id FROM sys_service WHERE deployment_id IS NOT NULL
            UNION
            SELECT DISTINCT pinned_deployment_id AS id FROM sys_invocation_status
            WHERE pinned_deployment_id IS NOT NULL AND status != 'completed')
        SELECT d.id AS id FROM sys_deployment d EXCEPT SELECT id FROM active_deployments"""),
    ("invocation list", f"SELECT ss.id AS id FROM sys_invocation_status ss WHERE ss.{_OURS} "
                        "ORDER BY ss.created_at DESC LIMIT 250"),
    ("in-flight list", f"""SELECT ss.id AS id FROM sys_invocation_status ss
        WHERE ss.status NOT IN ('scheduled', 'completed') AND ss.{_OURS}
          AND (((ss.status = 'completed' AND ss.completion_result = 'success')) IS NOT TRUE)
        ORDER BY ss.created_at DESC LIMIT 250"""),
    ("invocation details", f"SELECT {_DETAIL_COLUMNS} FROM sys_invocation i "
                           "WHERE i.id IN ('{echo}', '{box}', '{caller}', '{workflow}', '{queued}', '{delayed}') "
                           "ORDER BY i.created_at DESC NULLS LAST"),
    ("filtered with limit", "SELECT id, status FROM sys_invocation WHERE target_service_name = 'Echo' "
                            "AND status = 'completed' LIMIT 10"),
    ("journal", "SELECT id, index, appended_at, entry_type, name, raw_length, entry_lite_json, version, completed, "
                "sleep_wakeup_at, invoked_id, invoked_target, promise_name FROM sys_journal "
                "WHERE id = '{caller}' ORDER BY index"),
    ("journal events", "SELECT after_journal_entry_index, appended_at, event_type, event_json "
                       "FROM sys_journal_events WHERE id = '{caller}' ORDER BY appended_at"),
    ("journal LEFT JOIN events", """SELECT j.index, j.entry_type, e.event_type, e.event_json
        FROM sys_journal j LEFT JOIN sys_journal_events e ON e.id = j.id AND e.after_journal_entry_index = j.index
        WHERE j.id = '{caller}' ORDER BY j.index"""),
    ("journal entry", "SELECT entry_type, entry_json, raw FROM sys_journal WHERE id = '{caller}' AND index = 1"),
    ("workflow journal", "SELECT index, entry_type, name, entry_lite_json FROM sys_journal WHERE id = '{workflow}'"),
    ("object journal", "SELECT index, entry_type, entry_lite_json FROM sys_journal WHERE id = '{box}'"),
    ("call tree", """SELECT child.id, child.target, child.status, child.invoked_by, parent.target AS parent_target
        FROM sys_invocation child JOIN sys_invocation parent ON child.invoked_by_id = parent.id
        WHERE parent.id = '{caller}'"""),
    ("callees of one caller", "SELECT id, status FROM sys_invocation WHERE invoked_by_id = '{caller}'"),
    ("invocation state join", """SELECT i.id, s.in_flight, s.retry_count FROM sys_invocation_status i
        LEFT JOIN sys_invocation_state s ON s.id = i.id WHERE i.id IN ('{holder}', '{echo}') ORDER BY i.id"""),
    ("object keys", "SELECT DISTINCT service_key FROM state WHERE \"service_name\" = 'StateBox' "
                    "AND service_key = '{box_key}' LIMIT 301"),
    ("state of keys", """SELECT service_key, key, value_length, value FROM state
        WHERE service_name = 'StateBox' AND service_key IN ('{box_key}') AND value_length <= 2048 LIMIT 1500"""),
    ("object's invocations", """SELECT si.id FROM sys_invocation_status si WHERE si.target_service_ty = 'virtual_object'
        AND si.target_service_name = 'Locker' AND si.target_service_key = '{locker_key}'
        ORDER BY si.created_at DESC NULLS LAST LIMIT 51"""),
    ("lock holder", """SELECT invocation_id FROM sys_keyed_service_status WHERE service_name = 'Locker'
        AND service_key = '{locker_key}' AND invocation_id IS NOT NULL LIMIT 1"""),
    ("inbox LEFT JOIN invocation", """SELECT ib.id, ib.sequence_number IS NOT NULL AS seq, inv.status
        FROM sys_inbox ib LEFT JOIN sys_invocation inv ON inv.id = ib.id WHERE ib.service_key = '{locker_key}'"""),
    ("promises JOIN invocation", """SELECT p.key, p.completed, p.completion_success_value_utf8, inv.status
        FROM sys_promise p JOIN sys_invocation inv ON inv.target_service_key = p.service_key
        AND inv.target_service_name = p.service_name WHERE p.service_key = '{workflow_key}'
        AND inv.target_handler_name = 'run'"""),
    ("services JOIN deployments", """SELECT s.name, s.ty, d.endpoint IS NOT NULL AS served FROM sys_service s
        LEFT JOIN sys_deployment d ON d.id = s.deployment_id WHERE s.name IN ('Echo', 'Signup') ORDER BY s.name"""),
    ("invocations per deployment", f"""SELECT d.id IS NOT NULL AS known, COUNT(*) AS n FROM sys_invocation i
        LEFT JOIN sys_deployment d ON d.id = i.pinned_deployment_id WHERE i.{_OURS} GROUP BY d.id IS NOT NULL
        ORDER BY known"""),
    ("union of tables", """SELECT id FROM sys_invocation WHERE id = '{echo}'
        UNION SELECT invocation_id AS id FROM sys_keyed_service_status WHERE service_key = '{locker_key}'
        ORDER BY id"""),
    ("information_schema", "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                           "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"),
    ("idempotency table", "SELECT * FROM sys_idempotency LIMIT 1"),
]  # fmt: skip


#: Columns whose nulls differ by design, left out of the row shapes (not out of the schema comparison):
#: - idempotency_key: the real server's ingress gives every request without one a generated key (a ULID);
#: - running_at, journal_retention, completion_retention: ours stores no start time nor the retention an
#:   invocation will get before it completes;
#: - appended_at of the journal's middle entries: ours stores the first and last entry's time only;
#: - completed, invoked_id, invoked_target: the real server leaves them null for protocol V4+ journals,
#:   ours fills them from the entries (the CLI shows them).
UNCOMPARED = {"idempotency_key", "running_at", "journal_retention", "completion_retention", "appended_at",
              "completed", "invoked_id", "invoked_target"}  # fmt: skip


#: Result columns whose Arrow type differs by the DataFusion version (same JSON): ours (DataFusion 55) types
#: `CASE ... THEN 'literal' ELSE <LargeUtf8 column> END` as Utf8, the real server's as LargeUtf8.
TYPE_DIFFERS = {("counts by bucket", "bucket"): ("string", "large_string")}


#: Statements whose answers have no ids, times or keys: equal value for value on both servers.
SAME_VALUES = {
    "workflow journal",
    "object journal",
    "counts by status",
    "count",
    "filtered count",
    "counts by service, handler and status",
    "counts of a column with nulls",
}


def _shape(table: pa.Table) -> Counter[tuple[str, ...]]:
    """Per row, the columns that are not null (a multiset: row order is not compared)."""
    rows = table.to_pylist()
    return Counter(tuple(sorted(k for k, v in row.items() if v is not None and k not in UNCOMPARED)) for row in rows)


@pytest.mark.parametrize("name, sql", STATEMENTS, ids=[name for name, _ in STATEMENTS])
def test_statement_matches_the_real_server(scenes: dict[str, Scene], name: str, sql: str) -> None:
    real_code, real = scenes["real"].query(sql)
    ours_code, ours = scenes["ours"].query(sql)
    assert ours_code == real_code, (ours, real)
    if not isinstance(real, pa.Table) or not isinstance(ours, pa.Table):
        return  # the same error status on both (its text is checked in test_sql.py)
    assert ours.schema.names == real.schema.names
    for field, real_field in zip(ours.schema, real.schema, strict=True):
        expected = TYPE_DIFFERS.get((name, field.name), (str(real_field.type), str(real_field.type)))
        assert (str(field.type), str(real_field.type)) == expected, field.name
    assert ours.num_rows == real.num_rows, (ours.to_pylist(), real.to_pylist())
    ours_shape, real_shape = _shape(ours), _shape(real)
    only_ours, only_real = ours_shape - real_shape, real_shape - ours_shape
    assert not only_ours and not only_real, f"ours only: {dict(only_ours)}\nreal only: {dict(only_real)}"
    if name in SAME_VALUES:
        assert sorted(map(str, ours.to_pylist())) == sorted(map(str, real.to_pylist()))
