"""Every table of every command at 80 columns and in a pipe: no line wider, ids whole, `--wide` shows every column."""

from __future__ import annotations

import httpx
import pytest
from rich.cells import cell_len
from typer.testing import Result

from tests.unit.cli.conftest import FakeAdmin, run_at
from tests.unit.cli.test_journal import CALLEE, REAL_ROWS

INVS = ["inv_1aFJvKXmN0BJ6T377FWppySuyYEopnG7G6", "inv_1h36sodo7qxj5HFymIjuiMZtQHFV17Znnl"]
DEPS = ["dp_12PgsFJ82wRXepxIaMzIdLr", "dp_17fAUgNCnp63OgxsT9zkRRD"]
FAILURE = "[500 Internal] Exception('non-terminal failure r1') " + "Traceback (most recent call last) " * 5
HANDLERS = [{"name": f"handler_number_{i}", "ty": "Exclusive", "input_description": "JSON value",
             "output_description": "JSON value", "public": True} for i in range(3)]  # fmt: skip
SERVICES = [
    {"name": f"AVeryLongServiceName{i}", "ty": "VirtualObject", "revision": 3, "public": True,
     "deployment_id": DEPS[i % 2], "handlers": HANDLERS}
    for i in range(6)
]  # fmt: skip
DEPLOYMENTS = [
    {"id": dep, "uri": f"http://service-{i}.internal.example:9080/", "protocol_type": "BidiStream",
     "created_at": "2026-11-21T15:05:12.996000000Z", "services": [{"name": s["name"], "revision": 3} for s in SERVICES]}
    for i, dep in enumerate(DEPS)
]  # fmt: skip
INVOCATIONS = [
    {"id": inv, "target": "AVeryLongServiceName1/some-object-key/handler_number_2", "status": "backing-off",
     "created_at": "2026-11-21T15:05:51.153Z", "modified_at": "2026-11-21T15:06:51.153Z", "retry_count": 5,
     "last_failure": FAILURE}
    for inv in INVS
]  # fmt: skip


def serve(fake: FakeAdmin) -> None:
    fake.on("GET", "/services", {"services": SERVICES})
    fake.on("GET", f"/services/{SERVICES[0]['name']}", SERVICES[0])
    fake.on("GET", "/deployments", {"deployments": DEPLOYMENTS})
    fake.on("GET", f"/deployments/{DEPS[0]}", DEPLOYMENTS[0])
    fake.on("POST", "/deployments", {"id": DEPS[0], "services": SERVICES}, status=201)
    counts = [{"target_service_name": SERVICES[1]["name"], "target_handler_name": "handler_number_0",
               "status": status, "count": 3} for status in ("pending", "running", "backing-off", "paused")]  # fmt: skip
    fake.rows("GROUP BY", counts)
    fake.rows("FROM sys_invocation WHERE id", [INVOCATIONS[0]])
    fake.rows("FROM sys_journal", REAL_ROWS)
    fake.rows("FROM state", [{"key": "a-state-key", "value": ('{"text": "%s"}' % ("word " * 40)).encode().hex()}])
    fake.rows("SELECT id, target FROM", [{"id": inv, "target": INVOCATIONS[0]["target"]} for inv in INVS])
    fake.rows("FROM sys_invocation", INVOCATIONS)
    for inv in INVS:
        fake.on("PATCH", f"/invocations/{inv}/kill", httpx.Response(409, json={"message": FAILURE}))


COMMANDS: list[tuple[list[str], list[str], list[str]]] = [
    # (command, ids that must show whole, headers that --wide adds to what shows at 80 columns)
    (["deployments", "list"], DEPS, ["protocol", "created", "services"]),
    (["deployments", "describe", DEPS[0]], [DEPS[0]], []),
    (["deployments", "register", "localhost:9080"], [DEPS[0]], []),
    (["services", "list"], DEPS, ["handlers", "public"]),
    (["services", "describe", SERVICES[0]["name"]], [DEPS[0]], []),
    (["services", "status"], [SERVICES[1]["name"]], ["pending", "backing-off"]),
    (["invocations", "list"], INVS, ["created", "modified", "retries", "result / last failure"]),
    (["invocations", "describe", INVS[0]], [INVS[0], CALLEE], ["appended"]),
    (["invocations", "kill", "AVeryLongServiceName1", "--yes"], INVS, []),
    (["state", "get", SERVICES[0]["name"], "k"], ["a-state-key"], []),
    (["sql", "SELECT * FROM sys_invocation"], INVS, ["created_at", "modified_at", "retry_count", "last_failure"]),
]


def header_of(result: Result) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith("┃"))


@pytest.mark.parametrize("columns", [80, None], ids=["columns80", "piped"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[0][:2]))
def test_tables_fit_and_keep_ids_whole(
    fake: FakeAdmin, columns: int | None, command: tuple[list[str], list[str], list[str]]
) -> None:
    args, ids, _ = command
    serve(fake)
    result = run_at(columns, *args)
    assert result.exit_code in (0, 1), result.stderr  # kill: every outcome is a failure (exit 1), shown in a table
    lines = result.stdout.splitlines()
    assert lines and max(cell_len(line) for line in lines) <= 80, result.stdout
    for text in ids:
        assert any(text in line for line in lines), f"{text} not whole in:\n{result.stdout}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[2]], ids=lambda c: " ".join(c[0][:2]))
def test_wide_shows_every_column(fake: FakeAdmin, command: tuple[list[str], list[str], list[str]]) -> None:
    args, _, extra = command
    serve(fake)
    narrow = run_at(80, *args)
    assert "--wide shows every column" in narrow.stderr
    wide = run_at(80, *args, "--wide")
    assert wide.exit_code == 0, wide.stderr
    for name in extra:
        assert f" {name} " not in header_of(narrow)
        assert f" {name} " in header_of(wide), header_of(wide)
    assert "not shown" not in wide.stderr
