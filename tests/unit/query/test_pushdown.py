"""restate.admin.query.pushdown and engine.route: what the partitions are asked for, and which ones."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionContext

from restate import ids
from restate.admin.query.engine import route
from restate.admin.query.pushdown import ScanSpec, scan_specs
from restate.admin.query.schemas import SCHEMAS
from restate.wire import ScanFilter

INV = "inv_1drIg5mri6h675abJOkr5BjeEXpvocgazU"
INV2 = "inv_1aZZoEsoWXAM5bZmzsFQvtzZ8bJsTrABdT"


def specs(sql: str) -> dict[str, ScanSpec]:
    ctx = SessionContext()
    for name, schema in SCHEMAS.items():
        ctx.register_record_batches(name, [[pa.RecordBatch.from_pylist([], schema=schema)]])
    return scan_specs(ctx.sql(sql).optimized_logical_plan(), set(SCHEMAS))


def test_cli_cancel_query() -> None:
    found = specs(
        f"SELECT id, target FROM sys_invocation_status WHERE id = '{INV}' AND status != 'completed' LIMIT 500"
    )
    assert found == {"sys_invocation_status": ScanSpec(
        "sys_invocation_status",
        [ScanFilter("id", "in", [INV]), ScanFilter("status", "not_in", ["completed"])],
        ["id", "status", "target"],
        500,
    )}  # fmt: skip


def test_in_lists_ors_and_likes() -> None:
    (spec,) = specs(
        f"SELECT id FROM sys_invocation WHERE id IN ('{INV}', '{INV2}') AND (status = 'paused' OR status = 'running')"
        " AND target LIKE 'Greeter/%' AND target_service_name NOT IN ('A', 'B')"
    ).values()
    assert sorted(spec.filters, key=lambda f: f.column) == [
        ScanFilter("id", "in", [INV, INV2]),
        ScanFilter("status", "in", ["paused", "running"]),
        ScanFilter("target", "prefix", ["Greeter/"]),
        ScanFilter("target_service_name", "not_in", ["A"]),  # NOT IN of two values became two `!=`
        ScanFilter("target_service_name", "not_in", ["B"]),
    ]


@pytest.mark.parametrize(
    "condition",
    [
        "target ILIKE 'greeter/%'",  # case-insensitive
        "target LIKE 'Gr_eter/%'",  # `_` is a wildcard
        "target NOT LIKE 'Greeter/%'",
        "status = 'running' OR target = 'x'",  # an OR across columns
        "length(target) = 3",  # not a plain column
        "retry_count > 2",  # not an equality
    ],
)
def test_conditions_left_to_datafusion(condition: str) -> None:
    (spec,) = specs(f"SELECT id FROM sys_invocation WHERE {condition}").values()
    assert spec.filters == []


def test_a_like_without_wildcards_is_an_equality() -> None:
    (spec,) = specs("SELECT id FROM sys_invocation WHERE target LIKE 'Greeter/greet'").values()
    assert spec.filters == [ScanFilter("target", "in", ["Greeter/greet"])]


def test_limits_and_filters_above_them() -> None:
    sql = "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE status != 'completed'"
    (spec,) = specs(sql).values()
    assert spec == ScanSpec("sys_invocation", [], ["status"], 50000)  # the filter applies after the limit
    (spec,) = specs("SELECT id FROM sys_invocation LIMIT 3").values()
    assert spec.limit == 3 and spec.filters == []
    (spec,) = specs("SELECT id FROM sys_invocation WHERE status = 'running' LIMIT 3 OFFSET 2").values()
    # every condition is a ScanFilter, which the partitions apply exactly: the limit (and offset) goes too
    assert spec.limit == 5 and spec.filters == [ScanFilter("status", "in", ["running"])]
    for condition in ("status = 'running' AND retry_count > 2", "last_attempt_server = 'x'"):
        (spec,) = specs(f"SELECT id FROM sys_invocation WHERE {condition} LIMIT 3").values()
        assert spec.limit is None  # a condition only DataFusion applies: the partitions cannot stop early


def test_limits_of_two_scans_of_one_table_merge_only_with_the_same_filters() -> None:
    sql = ("SELECT id FROM (SELECT id FROM sys_invocation WHERE status = 'running' LIMIT 3) UNION ALL "
           "SELECT id FROM (SELECT id FROM sys_invocation WHERE status = 'paused' LIMIT 3)")  # fmt: skip
    (spec,) = specs(sql).values()
    assert spec.limit is None and spec.filters == [ScanFilter("status", "in", ["running", "paused"])]
    same = "SELECT id FROM (SELECT id FROM sys_invocation WHERE status = 'running' LIMIT {})"
    (spec,) = specs(f"{same.format(2)} UNION ALL {same.format(4)}").values()
    assert spec.limit == 4


def test_joins_and_self_joins() -> None:
    found = specs(
        "SELECT inv.id, dp.id IS NOT NULL FROM sys_invocation inv LEFT JOIN sys_deployment dp "
        f"ON dp.id = inv.pinned_deployment_id WHERE inv.id = '{INV}'"
    )
    assert found["sys_invocation"].filters == [ScanFilter("id", "in", [INV])]
    assert found["sys_deployment"] == ScanSpec("sys_deployment", [], ["id"], None)
    (spec,) = specs(
        f"SELECT a.id FROM sys_journal a JOIN sys_journal b ON a.id = b.id WHERE a.id = '{INV}' AND b.index = 1"
    ).values()
    assert spec.filters == [ScanFilter("id", "in", [INV])]  # DataFusion infers b.id = INV from the join
    (spec,) = specs(f"SELECT a.id FROM sys_journal a, sys_journal b WHERE a.id = '{INV}'").values()
    assert spec.filters == [] and spec.columns == ["id"]  # b is read whole, so a cannot be narrowed
    (spec,) = specs(f"SELECT a.id FROM sys_journal a, sys_journal b WHERE a.id = '{INV}' AND b.id = '{INV2}'").values()
    assert spec.filters == [ScanFilter("id", "in", [INV, INV2])]  # either one


def test_information_schema_reads_no_table() -> None:
    assert specs("SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal'") == {}


def test_routing() -> None:
    n = 4
    owner = ids.partition_for(ids.InvocationId.parse(INV).partition_key, n)
    assert route("sys_invocation", [ScanFilter("id", "in", [INV])], n) == [owner]
    assert route("sys_journal", [ScanFilter("id", "in", [INV, "inv_1bad"])], n) == [owner]
    assert route("sys_journal", [ScanFilter("id", "in", ["inv_1bad"])], n) == []
    assert route("sys_invocation", [ScanFilter("id", "not_in", [INV])], n) == [0, 1, 2, 3]
    assert route("sys_invocation", [ScanFilter("target_service_name", "in", ["Greeter"])], n) == [0, 1, 2, 3]
    key_owner = ids.partition_for(ids.partition_key_for("k1"), n)
    assert route("state", [ScanFilter("service_name", "in", ["Counter"]), ScanFilter("service_key", "in", ["k1"])],
                 n) == [key_owner]  # fmt: skip
    assert route("sys_invocation", [ScanFilter("target_service_key", "in", ["k1"])], n) == [key_owner]
    assert route("sys_invocation_status", [ScanFilter("partition_key", "in", [1 << 63])], n) == [2]
    # several routing filters: the partitions that satisfy all of them
    both = [ScanFilter("id", "in", [INV]), ScanFilter("partition_key", "in", [0])]
    assert route("sys_invocation_status", both, n) == ([0] if owner == 0 else [])


def test_a_top_k_by_a_column_the_partitions_order_by() -> None:
    (spec,) = specs("SELECT ss.id AS id FROM sys_invocation_status ss ORDER BY ss.created_at DESC LIMIT 250").values()
    assert (spec.limit, spec.order, spec.filters) == (250, ("created_at", True), [])
    (spec,) = specs("SELECT id FROM sys_invocation inv WHERE status != 'completed' "
                    "ORDER BY inv.created_at, inv.id LIMIT 100").values()  # fmt: skip
    assert (spec.limit, spec.order) == (100, ("created_at", False))
    for sql in (
        "SELECT id FROM sys_invocation ORDER BY retry_count LIMIT 5",  # not a column partitions order by
        "SELECT id FROM sys_invocation WHERE retry_count > 1 ORDER BY created_at LIMIT 5",  # inexact filter
        "SELECT id FROM sys_journal ORDER BY appended_at LIMIT 5",
        "SELECT upper(id) AS u FROM sys_invocation ORDER BY u LIMIT 5",
    ):
        (spec,) = specs(sql).values()
        assert (spec.limit, spec.order) == (None, None), sql
