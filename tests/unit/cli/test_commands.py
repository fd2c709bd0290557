"""CLI commands against a fake admin API: requests sent, output, exit codes, bad input."""

from __future__ import annotations

import json

import httpx

from tests.unit.cli.conftest import FakeAdmin, error, run

INV = "inv_1aFJvKXmN0BJ6T377FWppySuyYEopnG7G6"
INV2 = "inv_1h36sodo7qxj5HFymIjuiMZtQHFV17Znnl"
DEP = "dp_12PgsFJ82wRXepxIaMzIdLr"
COUNTER = {
    "name": "Counter",
    "ty": "VirtualObject",
    "revision": 1,
    "public": True,
    "deployment_id": DEP,
    "handlers": [{"name": "add", "ty": "Exclusive", "input_description": "JSON integer", "output_description": "x"}],
    "idempotency_retention": "1d",
    "inactivity_timeout": "1m",
    "retry_policy": {"max_attempts": 70},
}
GREETER = {"name": "Greeter", "ty": "Service", "revision": 2, "deployment_id": DEP, "handlers": []}
DEPLOYMENT = {
    "id": DEP,
    "uri": "http://127.0.0.1:9080/",
    "protocol_type": "BidiStream",
    "created_at": "2026-11-21T15:05:12.996000000Z",
    "services": [{"name": "Counter", "revision": 1}],
}


# --- exit codes -------------------------------------------------------------------------------------------


def test_unreachable_server_exits_3() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["--admin-url", "http://127.0.0.1:1", "services", "list"])
    assert result.exit_code == 3
    assert "cannot reach the admin API at http://127.0.0.1:1" in result.stderr


def test_server_error_exits_1_with_its_message(fake: FakeAdmin) -> None:
    fake.on("GET", "/services/Nope", error(404, "The requested service 'Nope' does not exist"))
    result = run("services", "describe", "Nope")
    assert result.exit_code == 1
    assert "[404] The requested service 'Nope' does not exist" in result.stderr


def test_bad_invocation_id_exits_2_before_any_request(fake: FakeAdmin) -> None:
    result = run("invocations", "cancel", "inv_garbage")
    assert result.exit_code == 2
    assert "invalid invocation id 'inv_garbage'" in result.stderr
    assert fake.requests == []


def test_bad_filter_and_bad_uri_exit_2(fake: FakeAdmin) -> None:
    assert run("invocations", "kill", "a/b/c/d").exit_code == 2
    for uri in ("ftp://localhost:9080", "https://", "localhost:port", "http://h:99999"):
        result = run("deployments", "register", uri)
        assert result.exit_code == 2, uri
        assert "expected [http(s)://]HOST[:PORT]" in result.stderr
    assert fake.requests == []


def test_a_uri_without_scheme_is_http(fake: FakeAdmin) -> None:
    fake.on("POST", "/deployments", {"id": DEP, "services": [COUNTER]}, status=201)
    result = run("deployments", "register", "localhost:9080")
    assert result.exit_code == 0, result.stderr
    assert json.loads(fake.requests[0].content)["uri"] == "http://localhost:9080"
    assert "at http://localhost:9080" in result.stdout


def test_a_malformed_filter_exits_2_before_any_request(fake: FakeAdmin) -> None:
    for targets in (["Counter", "a/b/c/d"], ["Counter/add", "Coun ter"], [INV, "Counter/"], ["Counter/k/add", "/x"]):
        result = run("invocations", "cancel", *targets)
        assert result.exit_code == 2, targets
        assert "invalid filter" in result.stderr
    assert fake.requests == []


def test_list_status_must_be_a_known_status(fake: FakeAdmin) -> None:
    result = run("invocations", "list", "--status", "bogus")
    assert result.exit_code == 2
    assert "'bogus' is not one of" in result.stderr
    for status in ("pending", "scheduled", "running", "backing-off", "suspended", "paused", "completed"):
        assert status in result.stderr
    assert fake.requests == []
    assert run("invocations", "list", "--status", "Backing-Off").exit_code == 0
    assert fake.sql[0].endswith("WHERE status = 'backing-off' ORDER BY created_at DESC LIMIT 100")


def test_version_and_whoami(fake: FakeAdmin) -> None:
    from importlib.metadata import version

    shown = run("--version")
    assert (shown.exit_code, shown.stdout) == (0, f"restate-cli-py {version('restate')}\n")
    answer = {"version": "1.7.12", "min_admin_api_version": 2, "max_admin_api_version": 4,
              "ingress_endpoint": "http://127.0.0.1:8080/"}  # fmt: skip
    fake.on("GET", "/version", answer)
    fake.on("GET", "/health", httpx.Response(200))
    who = run("whoami")
    assert who.exit_code == 0, who.stderr
    lines = [" ".join(line.split()) for line in who.stdout.splitlines()]
    assert "Admin base URL http://admin.test/" in lines
    assert "Ingress base URL http://127.0.0.1:8080/" in lines
    assert "Server version 1.7.12" in lines and "Admin API v2..v4" in lines
    assert f"CLI version restate-cli-py {version('restate')}" in lines
    assert "[OK]: Admin Service 'http://admin.test/' is healthy!" in lines
    assert fake.paths() == ["/version", "/health"]
    about = json.loads(run("whoami", "--json").stdout)
    assert (about["server_version"], about["ingress_url"], about["healthy"]) == (
        "1.7.12",
        answer["ingress_endpoint"],
        True,
    )


def test_whoami_of_an_unhealthy_server_exits_1(fake: FakeAdmin) -> None:
    fake.on("GET", "/version", {"version": "1.7.12"})
    fake.on("GET", "/health", httpx.Response(503, text="starting"))
    result = run("whoami")
    assert result.exit_code == 1
    assert "[503] starting" in result.stderr


def test_config_patch_needs_a_setting_and_valid_durations(fake: FakeAdmin) -> None:
    assert run("services", "config", "patch", "Counter").exit_code == 2
    result = run("services", "config", "patch", "Counter", "--idempotency-retention", "soon")
    assert result.exit_code == 2
    assert "invalid --idempotency-retention duration 'soon'" in result.stderr
    assert fake.requests == []


# --- deployments and services -----------------------------------------------------------------------------


def test_deployments_register_sends_the_official_body(fake: FakeAdmin) -> None:
    fake.on("POST", "/deployments", {"id": DEP, "services": [COUNTER]}, status=201)
    result = run("deployments", "register", "http://127.0.0.1:9080", "-H", "x-token: s3cret")
    assert result.exit_code == 0, result.stderr
    assert json.loads(fake.requests[0].content) == {
        "uri": "http://127.0.0.1:9080",
        "additional_headers": {"x-token": "s3cret"},
        "use_http_11": False,
        "breaking": False,
        "force": False,
        "dry_run": False,
    }
    assert f"Registered deployment {DEP}" in result.stdout
    assert "Counter" in result.stdout and "VirtualObject" in result.stdout


def test_deployments_list_marks_active_ones(fake: FakeAdmin) -> None:
    fake.on("GET", "/services", {"services": [COUNTER]})
    old = {**DEPLOYMENT, "id": "dp_old", "services": []}
    fake.on("GET", "/deployments", {"deployments": [DEPLOYMENT, old]})
    result = run("deployments", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(DEP in line and "active" in line and "Counter@1" in line for line in lines)
    assert any("dp_old" in line and "superseded" in line for line in lines)


def test_deployments_remove_refuses_while_serving_unless_forced(fake: FakeAdmin) -> None:
    fake.on("GET", f"/deployments/{DEP}", DEPLOYMENT)
    fake.on("GET", "/services", {"services": [COUNTER]})
    fake.on("DELETE", f"/deployments/{DEP}", httpx.Response(202))
    refused = run("deployments", "remove", DEP)
    assert refused.exit_code == 1
    assert "still serves the latest revision of Counter" in refused.stderr
    assert "DELETE" not in [r.method for r in fake.requests]
    forced = run("deployments", "remove", DEP, "--force")
    assert forced.exit_code == 0
    delete = [r for r in fake.requests if r.method == "DELETE"]
    assert delete[0].url.params["force"] == "true"


def test_services_list_json_is_the_api_answer(fake: FakeAdmin) -> None:
    fake.on("GET", "/services", {"services": [COUNTER, GREETER]})
    result = run("services", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [COUNTER, GREETER]


def test_services_config_view_and_patch(fake: FakeAdmin) -> None:
    fake.on("GET", "/services/Counter", COUNTER)
    view = run("services", "config", "view", "Counter", "--json")
    assert json.loads(view.stdout) == {
        "public": True,
        "idempotency_retention": "1d",
        "inactivity_timeout": "1m",
        "retry_policy": {"max_attempts": 70},
    }
    fake.on("PATCH", "/services/Counter", {**COUNTER, "idempotency_retention": "3h", "public": False})
    patched = run("services", "config", "patch", "Counter", "--idempotency-retention", "3h", "--private")
    assert patched.exit_code == 0
    body = json.loads(fake.requests[-1].content)
    assert body == {
        "public": False,
        "idempotency_retention": "3h",
        "workflow_completion_retention": None,
        "journal_retention": None,
        "inactivity_timeout": None,
        "abort_timeout": None,
    }
    assert "idempotency_retention (changed)" in patched.stdout


def test_services_status_counts_per_handler(fake: FakeAdmin) -> None:
    fake.on("GET", "/services", {"services": [COUNTER]})
    fake.rows(
        "GROUP BY",
        [
            {"target_service_name": "Counter", "target_handler_name": "add", "status": "running", "count": 2},
            {"target_service_name": "Counter", "target_handler_name": "add", "status": "pending", "count": 5},
        ],
    )
    result = run("services", "status", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"service": "Counter", "handler": "add", "statuses": {"running": 2, "pending": 5}}
    ]


# --- invocations ------------------------------------------------------------------------------------------


def test_cancel_by_id_patches_without_sql(fake: FakeAdmin) -> None:
    fake.on("PATCH", f"/invocations/{INV}/cancel", httpx.Response(202))
    result = run("invocations", "cancel", INV)
    assert result.exit_code == 0, result.stderr
    assert fake.sql == []
    assert "Cancellation requested for 1 of 1 invocation(s)" in result.stdout


def test_bulk_kill_by_handler_selects_with_sql_then_patches_each(fake: FakeAdmin) -> None:
    fake.rows(
        "FROM sys_invocation WHERE", [{"id": INV, "target": "Counter/a/add"}, {"id": INV2, "target": "Counter/b/add"}]
    )
    fake.on("PATCH", f"/invocations/{INV}/kill", httpx.Response(200))
    fake.on("PATCH", f"/invocations/{INV2}/kill", error(409, f"The invocation '{INV2}' was already completed."))
    result = run("invocations", "kill", "Counter/add", "--yes", "--json")
    assert result.exit_code == 1
    assert fake.sql == [
        "SELECT id, target FROM sys_invocation WHERE (target_service_name = 'Counter' AND "
        "target_handler_name = 'add') AND status != 'completed' LIMIT 500"
    ]
    outcomes = json.loads(result.stdout)
    assert [(o["id"], o["ok"], o["status"]) for o in outcomes] == [(INV, True, 200), (INV2, False, 409)]
    assert "already completed" in outcomes[1]["error"]


def test_operation_with_no_match_exits_1(fake: FakeAdmin) -> None:
    result = run("invocations", "purge", "Greeter")
    assert result.exit_code == 1
    assert "no invocation to purge matches Greeter" in result.stderr
    assert "status = 'completed'" in fake.sql[0]


def test_list_builds_filters_and_prints_rows(fake: FakeAdmin) -> None:
    row = {"id": INV, "target": "Counter/k/add", "status": "running", "created_at": "2026-11-21T15:05:51.153Z"}
    fake.rows("ORDER BY created_at DESC", [row])
    result = run("invocations", "list", "--service", "Counter", "--limit", "5")
    assert result.exit_code == 0
    assert fake.sql[0].endswith(
        "FROM sys_invocation WHERE target_service_name = 'Counter' AND status != 'completed' "
        "ORDER BY created_at DESC LIMIT 5"
    )
    assert INV in result.stdout and "2026-11-21 15:05:51" in result.stdout


def test_describe_unknown_invocation_exits_1(fake: FakeAdmin) -> None:
    result = run("invocations", "describe", INV)
    assert result.exit_code == 1
    assert f"no invocation {INV}" in result.stderr


def test_describe_shows_status_and_journal(fake: FakeAdmin) -> None:
    fake.rows("FROM sys_invocation WHERE id", [{"id": INV, "target": "Greeter/greet", "status": "completed"}])
    fake.rows(
        "FROM sys_journal",
        [{"index": 0, "entry_type": "Command: Input"}, {"index": 1, "entry_type": "Command: Output"}],
    )
    result = run("invocations", "describe", INV)
    assert result.exit_code == 0
    assert "Greeter/greet" in result.stdout and "Command: Output" in result.stdout


def test_describe_shows_the_trace_id(fake: FakeAdmin) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    fake.rows("FROM sys_invocation WHERE id", [{"id": INV, "target": "Greeter/greet", "status": "completed",
                                               "trace_id": trace}])  # fmt: skip
    fake.rows("FROM sys_journal", [])
    result = run("invocations", "describe", INV, "--wide")
    assert result.exit_code == 0
    assert "trace_id" in result.stdout and trace in result.stdout


def test_describe_shows_what_the_real_servers_entries_hold(fake: FakeAdmin) -> None:
    """The real server's sys_journal has only `entry_json`: call targets, callees, deadlines, keys, values."""
    from tests.unit.cli.test_journal import CALLEE, REAL_ROWS

    fake.rows("FROM sys_invocation WHERE id", [{"id": INV, "target": "IdemCaller/call_twice", "status": "running"}])
    fake.rows("FROM sys_journal", REAL_ROWS)
    result = run("invocations", "describe", INV)
    assert result.exit_code == 0, result.stderr
    cells = [" ".join(cell.split()) for line in result.stdout.splitlines() for cell in line.split("│")]
    for shown in ("Tally/t1/bump", CALLEE, "input one", "result one#1", "key b", 'value {"x": [1, 2]}',
                  "promise approval", "[record]", "until 2026-12-02 06:45:27.077 UTC", "keys [a, b]",
                  "failure [500] boom", "(waiting for its result)"):  # fmt: skip
        assert any(cell.startswith(shown) for cell in cells), shown
    assert "entry_json, appended_at FROM sys_journal" in fake.sql[1]
    decoded = json.loads(run("invocations", "describe", INV, "--json").stdout)["journal"]
    assert decoded[1] == {
        "index": 1, "entry_type": "Command: Call", "appended_at": "2026-12-02T05:45:27.044Z",
        "target": "Tally/t1/bump", "invocation_id": CALLEE, "value": "one", "completed": True,
    }  # fmt: skip


# --- state and sql ----------------------------------------------------------------------------------------


def test_state_get_decodes_hex_values(fake: FakeAdmin) -> None:
    fake.on("GET", "/services/Counter", COUNTER)
    fake.rows("FROM state", [{"key": "count", "value": b"42".hex()}, {"key": "raw", "value": "ff00"}])
    result = run("state", "get", "Counter/my key", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"count": 42, "raw": "hex:ff00"}
    assert "service_key = 'my key'" in fake.sql[0]


def test_state_of_a_service_is_refused(fake: FakeAdmin) -> None:
    fake.on("GET", "/services/Greeter", GREETER)
    result = run("state", "get", "Greeter", "k")
    assert result.exit_code == 1
    assert "only virtual objects and workflows have state" in result.stderr


def test_state_clear_posts_an_empty_state_with_the_version(fake: FakeAdmin) -> None:
    from cli.admin_client import state_version

    fake.on("GET", "/services/Counter", COUNTER)
    fake.rows("FROM state", [{"key": "count", "value": b"7".hex()}])
    fake.on("POST", "/services/Counter/state", httpx.Response(202))
    result = run("state", "clear", "Counter", "k1", "--yes")
    assert result.exit_code == 0, result.stderr
    body = json.loads(fake.requests[-1].content)
    assert body == {"object_key": "k1", "new_state": {}, "version": state_version({"count": b"7"})}
    assert "Cleared 1 state entry of Counter/k1" in result.stdout


def test_sql_prints_every_column(fake: FakeAdmin) -> None:
    fake.rows("SELECT", [{"id": "a", "n": 1}, {"id": "b", "flag": True}])
    result = run("sql", "SELECT * FROM t")
    assert result.exit_code == 0
    header = next(line for line in result.stdout.splitlines() if "id" in line)
    assert header.index("id") < header.index("n") < header.index("flag")
    assert "true" in result.stdout
    assert run("sql", "  ").exit_code == 2
