"""Our CLI (`restate deployments|services|invocations|state|sql|dashboard`) against running servers.

Run against ours and against the real restate-server 1.7.12 (test ids contain `ours` / `real`), with
tests/services/lifecycle.py registered. Commands run in-process (typer's CliRunner: output and exit
code), plus one real subprocess for the entry point. Exit codes: 0 ok, 1 the server said no,
2 bad input, 3 unreachable.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner, Result

from cli.main import app
from tests.integration.lifecycle_support import (
    INV_ID_RE,
    SERVER_KINDS,
    LifecycleStack,
    start_stack,
    unique,
    wait_until,
)
from tests.support import OUR_RESTATE_BIN, free_port


@pytest.fixture(scope="module", params=SERVER_KINDS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LifecycleStack]:
    with start_stack(request.param, tmp_path_factory.mktemp(f"cli-{request.param}")) as s:
        yield s


def cli(stack: LifecycleStack, *args: str) -> Result:
    env = {"COLUMNS": "250", "RESTATE_ADMIN_URL": stack.server.admin_url, "CI": "1"}
    return CliRunner().invoke(app, list(args), env=env)


def narrow(stack: LifecycleStack, *args: str) -> list[str]:
    """The stdout lines of a command run 80 columns wide; it must succeed and no line may be wider."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80", "RESTATE_ADMIN_URL": stack.server.admin_url})
    assert result.exit_code == 0, f"{args}: {result.stdout} {result.stderr}"
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, result.stdout
    return lines


def ok_json(stack: LifecycleStack, *args: str) -> Any:
    result = cli(stack, *args, "--json")
    assert result.exit_code == 0, f"{args}: {result.exit_code} {result.stdout} {result.stderr}"
    return json.loads(result.stdout)


def statuses(stack: LifecycleStack, invocation_id: str) -> str | None:
    rows = ok_json(stack, "sql", f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'")
    return rows[0]["status"] if rows else None


def waiting(stack: LifecycleStack) -> str:
    """A Waiter/wait invocation blocked on its awakeable (running)."""
    label = unique("cli")
    invocation_id = stack.send("Waiter/wait", label)
    stack.awakeable(label)
    return invocation_id


# --- deployments and services -----------------------------------------------------------------------------


def test_deployments_and_services_are_listed_and_described(stack: LifecycleStack) -> None:
    deployments = ok_json(stack, "deployments", "list")
    assert [d["uri"] for d in deployments] == [stack.service.url]
    dep_id = deployments[0]["id"]
    table = cli(stack, "deployments", "list")
    assert table.exit_code == 0 and dep_id in table.stdout and "active" in table.stdout
    described = cli(stack, "deployments", "describe", dep_id)
    assert described.exit_code == 0 and "Waiter" in described.stdout and "BidiStream" in described.stdout
    services = cli(stack, "services", "list")
    assert services.exit_code == 0
    assert any("Tally" in line and "VirtualObject" in line for line in services.stdout.splitlines())
    tally = cli(stack, "services", "describe", "Tally")
    assert tally.exit_code == 0 and "bump" in tally.stdout and "Shared" in tally.stdout
    assert ok_json(stack, "services", "describe", "Tally")["deployment"]["id"] == dep_id


def test_register_again_and_refused_remove(stack: LifecycleStack) -> None:
    again = cli(stack, "deployments", "register", stack.service.url)
    assert again.exit_code == 0, again.stderr
    assert "Already registered" in again.stdout
    without_scheme = cli(stack, "deployments", "register", stack.service.url.removeprefix("http://"))
    assert without_scheme.exit_code == 0, without_scheme.stderr  # http is assumed, as by the official CLI
    assert "Already registered" in without_scheme.stdout
    dep_id = ok_json(stack, "deployments", "list")[0]["id"]
    refused = cli(stack, "deployments", "remove", dep_id)
    assert refused.exit_code == 1
    assert "still serves the latest revision of" in refused.stderr


def test_service_config_view_and_patch(stack: LifecycleStack) -> None:
    assert ok_json(stack, "services", "config", "view", "Echo")["idempotency_retention"] == "1d"
    patched = ok_json(stack, "services", "config", "patch", "Echo", "--idempotency-retention", "3h")
    assert patched["idempotency_retention"] == "3h"
    assert ok_json(stack, "services", "config", "view", "Echo")["idempotency_retention"] == "3h"
    bad = cli(stack, "services", "config", "patch", "Echo", "--abort-timeout", "whenever")
    assert bad.exit_code == 2


def test_errors_and_exit_codes(stack: LifecycleStack) -> None:
    missing = cli(stack, "services", "describe", "Nope")
    assert missing.exit_code == 1
    assert "The requested service 'Nope' does not exist" in missing.stderr
    unknown = cli(stack, "invocations", "kill", "inv_1aFJvKXmN0BJ6T377FWppySuyYEopnG7G6")
    assert unknown.exit_code == 1
    assert "does not exist" in unknown.stdout
    assert cli(stack, "invocations", "kill", "inv_nonsense").exit_code == 2
    assert cli(stack, "state", "get", "Tally").exit_code == 2  # no key
    down = CliRunner().invoke(app, ["--admin-url", f"http://127.0.0.1:{free_port()}", "deployments", "list"])
    assert down.exit_code == 3
    assert "cannot reach the admin API" in down.stderr


def test_whoami(stack: LifecycleStack) -> None:
    about = ok_json(stack, "whoami")
    assert about["admin_url"] == stack.server.admin_url + "/"
    assert about["ingress_url"] == stack.server.ingress_url + "/"
    assert about["server_version"] == "1.7.12" and about["healthy"] is True
    lines = narrow(stack, "whoami")
    assert f"[OK]: Admin Service '{stack.server.admin_url}/' is healthy!" in lines


def test_entry_point_subprocess(stack: LifecycleStack) -> None:
    argv = [str(OUR_RESTATE_BIN), "--admin-url", stack.server.admin_url, "services", "list", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Waiter" in {s["name"] for s in json.loads(done.stdout)}
    bad = subprocess.run([*argv[:3], "invocations", "purge", "a/b/c/d"], capture_output=True, timeout=60, check=False)
    assert bad.returncode == 2


# --- invocations ------------------------------------------------------------------------------------------


def test_kill_by_id(stack: LifecycleStack) -> None:
    invocation_id = waiting(stack)
    killed = cli(stack, "invocations", "kill", invocation_id)
    assert killed.exit_code == 0, killed.stderr
    assert "Killed 1 of 1 invocation(s)" in killed.stdout
    assert stack.output(invocation_id).status_code == 409
    again = cli(stack, "invocations", "kill", invocation_id, "--json")
    assert again.exit_code == 1
    assert json.loads(again.stdout)[0]["status"] == 409


def test_pause_and_resume_by_id(stack: LifecycleStack) -> None:
    label = unique("b")
    invocation_id = stack.send("Broken/fail", label)
    stack.wait_lines(f"attempt {label} ")
    assert cli(stack, "invocations", "pause", invocation_id).exit_code == 0
    wait_until(lambda: statuses(stack, invocation_id), lambda s: s == "paused", "paused")
    assert cli(stack, "invocations", "resume", invocation_id).exit_code == 0
    wait_until(lambda: statuses(stack, invocation_id), lambda s: s != "paused", "resumed")
    assert cli(stack, "invocations", "kill", invocation_id).exit_code == 0


def test_list_describe_and_bulk_cancel_kill_purge_by_filter(stack: LifecycleStack) -> None:
    ids = {waiting(stack) for _ in range(3)}
    listed = ok_json(stack, "invocations", "list", "--service", "Waiter", "--handler", "wait")
    assert ids <= {row["id"] for row in listed}
    table = cli(stack, "invocations", "list", "--service", "Waiter")
    assert table.exit_code == 0 and all(i in table.stdout for i in ids)
    described = ok_json(stack, "invocations", "describe", sorted(ids)[0])
    assert described["invocation"]["target"] == "Waiter/wait"
    assert [e["index"] for e in described["journal"]][:2] == [0, 1]
    status = ok_json(stack, "services", "status", "Waiter")
    wait_row = next(r for r in status if r["handler"] == "wait")
    assert sum(wait_row["statuses"].values()) >= 3
    outcomes = ok_json(stack, "invocations", "kill", "Waiter/wait", "--yes")
    assert ids <= {o["id"] for o in outcomes if o["ok"]}
    wait_until(lambda: [statuses(stack, i) for i in ids], lambda s: s == ["completed"] * 3, "killed")
    purged = ok_json(stack, "invocations", "purge", "Waiter", "--yes")
    assert ids <= {o["id"] for o in purged if o["ok"]}
    wait_until(lambda: [statuses(stack, i) for i in ids], lambda s: s == [None] * 3, "purged")
    nothing = cli(stack, "invocations", "cancel", "Waiter/wait")
    assert nothing.exit_code == 1
    assert "no invocation to cancel matches Waiter/wait" in nothing.stderr


def journal_of(stack: LifecycleStack, invocation_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = ok_json(stack, "invocations", "describe", invocation_id)["journal"]
    return entries


def test_describe_shows_calls_state_and_promises(stack: LifecycleStack) -> None:
    """What each journal entry holds, decoded from sys_journal (the real server: its entry_json only)."""
    key = unique("d")
    caller = stack.call("IdemCaller/call_twice", {"key": key, "idem": key}).headers["x-restate-id"]
    call = next(e for e in journal_of(stack, caller) if e["entry_type"] == "Command: Call")
    assert (call["target"], call["value"], call["completed"]) == (f"Tally/{key}/bump", "one", True)
    assert INV_ID_RE.fullmatch(call["invocation_id"]), call
    lines = narrow(stack, "invocations", "describe", caller)
    assert any(f"Tally/{key}/bump" in line for line in lines) and any(call["invocation_id"] in ln for ln in lines)

    script = stack.call(f"StateBox/{key}/script").headers["x-restate-id"]
    state = [(e["entry_type"], e.get("state_key"), e.get("value")) for e in journal_of(stack, script)]
    assert ("Command: SetState", "b", {"x": [1, 2]}) in state and ("Command: GetEagerState", "a", 1) in state
    assert any('value {"x": [1, 2]}' in line for line in narrow(stack, "invocations", "describe", script))

    scheduler = stack.call("Stamp/schedule", key).headers["x-restate-id"]
    send = next(e for e in journal_of(stack, scheduler) if e["entry_type"] == "Command: OneWayCall")
    assert send["target"] == "Stamp/record" and send["wake_up_at"].endswith("Z")  # a send delayed by 500 ms

    workflow = stack.send(f"Signup/{key}/run", "ann")
    waiting = wait_until(
        lambda: journal_of(stack, workflow), lambda j: any(e.get("promise") for e in j), "the workflow awaits"
    )
    promise = next(e for e in waiting if e.get("promise"))
    assert (promise["entry_type"], promise["promise"]) == ("Command: GetPromise", "approval")
    assert promise["completed"] is False
    assert any("promise approval" in line for line in narrow(stack, "invocations", "describe", workflow))
    assert stack.call(f"Signup/{key}/approve", "bob").status_code == 200


def test_every_table_fits_80_columns_with_ids_whole(stack: LifecycleStack) -> None:
    ids = {waiting(stack) for _ in range(2)}
    listed = narrow(stack, "invocations", "list", "--service", "Waiter")
    assert all(any(i in line for line in listed) for i in ids), listed
    wide = cli(stack, "invocations", "list", "--service", "Waiter", "--wide")
    assert "result / last failure" in wide.stdout and "modified" in wide.stdout
    dep_id = ok_json(stack, "deployments", "list")[0]["id"]
    assert any(dep_id in line for line in narrow(stack, "deployments", "list"))
    assert any(dep_id in line for line in narrow(stack, "services", "list"))
    narrow(stack, "services", "status")
    sql = f"SELECT id, target, status, created_at, modified_at FROM sys_invocation WHERE id = '{sorted(ids)[0]}'"
    assert any(sorted(ids)[0] in line for line in narrow(stack, "sql", sql))
    assert ok_json(stack, "invocations", "kill", "Waiter/wait", "--yes")


# --- state and sql ----------------------------------------------------------------------------------------


def test_state_get_and_clear(stack: LifecycleStack) -> None:
    key = unique("k")
    for note in ("a", "b"):
        assert stack.call(f"Tally/{key}/bump", note).status_code == 200
    assert ok_json(stack, "state", "get", "Tally", key) == {"count": 2}
    shown = cli(stack, "state", "get", f"Tally/{key}")
    assert shown.exit_code == 0 and "count" in shown.stdout
    cleared = cli(stack, "state", "clear", "Tally", key, "--yes")
    assert cleared.exit_code == 0, cleared.stderr
    assert "Cleared 1 state entry" in cleared.stdout
    wait_until(lambda: ok_json(stack, "state", "get", "Tally", key), lambda s: s == {}, "state cleared")
    stateless = cli(stack, "state", "get", "Echo", key)
    assert stateless.exit_code == 1
    assert "only virtual objects and workflows have state" in stateless.stderr


def test_sql(stack: LifecycleStack) -> None:
    assert stack.call("Echo/echo", "sql").status_code == 200
    rows = ok_json(stack, "sql", "SELECT target, status FROM sys_invocation WHERE target = 'Echo/echo'")
    assert {"target": "Echo/echo", "status": "completed"} in rows
    table = cli(stack, "sql", "SELECT target FROM sys_invocation WHERE target = 'Echo/echo' LIMIT 1")
    assert table.exit_code == 0 and "Echo/echo" in table.stdout
    broken = cli(stack, "sql", "SELECT nope FROM sys_invocation")
    assert broken.exit_code == 1
    assert "nope" in broken.stderr
