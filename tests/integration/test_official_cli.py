"""The official `restate` CLI 1.7.12 (npm `@restatedev/restate`, installed by `make setup` under .reference/)
against our server: every command of the issue, its exit code and the lines that matter.

One server (2 partitions) + tests/services/lifecycle.py; the CLI runs with `RESTATE_ADMIN_URL`,
`RESTATE_INGRESS_URL`, `CI=1` (no prompts) and a HOME of its own. What each command sends is in
docs/reference/transcripts/cli_*.txt; the expected output lines are the real server's there.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.lifecycle_support import LifecycleStack, start_stack, unique, wait_until
from tests.support import REPO_ROOT, ServiceProcess

CLI = REPO_ROOT / ".reference" / "node_modules" / "@restatedev" / "restate-linux-x64" / "bin" / "restate"
CLI_TIMEOUT_S = 60.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Run:
    rc: int
    out: str  # stdout + stderr, without colours

    def lines(self) -> list[str]:
        return [line.strip() for line in self.out.splitlines()]


@dataclass
class Env:
    stack: LifecycleStack
    home: Path
    deployment: str

    def cli(self, *args: str) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        env.update({
            "RESTATE_ADMIN_URL": self.stack.server.admin_url, "RESTATE_INGRESS_URL": self.stack.server.ingress_url,
            "CI": "1", "HOME": str(self.home), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "250",
        })  # fmt: skip
        done = subprocess.run([str(CLI), *args], env=env, capture_output=True, timeout=CLI_TIMEOUT_S, check=False)
        return Run(done.returncode, ANSI.sub("", (done.stdout + done.stderr).decode("utf-8", "replace")))

    def status(self, inv: str) -> str:
        sql = f"SELECT status FROM sys_invocation WHERE id = '{inv}'"
        resp = self.stack.admin("POST", "/query", json={"query": sql}, headers={"accept": "application/json"})
        rows = resp.json()["rows"]
        return str(rows[0]["status"]) if rows else "<none>"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    assert CLI.is_file(), f"{CLI} missing: run `make setup` (it installs @restatedev/restate from npm)"
    root = tmp_path_factory.mktemp("cli")
    home = root / "home"
    home.mkdir()
    with start_stack("ours", root, partitions=2) as stack:
        deployments = stack.admin("GET", "/deployments").json()["deployments"]
        yield Env(stack, home, deployments[0]["id"])


def ok(run: Run, *expected: str) -> Run:
    """The command succeeded and printed every expected text."""
    assert run.rc == 0, run.out
    for text in expected:
        assert text in run.out, f"{text!r} not in:\n{run.out}"
    return run


# --- whoami, deployments, services


def test_whoami(env: Env) -> None:
    ok(env.cli("whoami"), f"[OK]: Admin Service '{env.stack.server.admin_url}/' is healthy!",
       f"Advertised ingress address  {env.stack.server.ingress_url}/")  # fmt: skip


def test_deployments_list_and_describe(env: Env) -> None:
    url = env.stack.service.url
    listed = ok(env.cli("deployments", "list"), url, env.deployment, "- Locker [1]")
    assert any(line.startswith(url) and "HTTP" in line for line in listed.lines())
    ok(env.cli("deployments", "describe", env.deployment), f"ID:              {env.deployment}",
       f"Endpoint:        {url}", "Transport:       HTTP/2.0", "SDK Version      restate-sdk-python/1.3.0",
       "- Locker", "Type: VirtualObject virtual object", "Revision: 1 [Latest]")  # fmt: skip


def test_deployments_register_existing_and_forced(env: Env) -> None:
    url = env.stack.service.url
    ok(env.cli("deployments", "register", url), f"Deployment already exists with id {env.deployment}",
       "No changes will be made.")  # fmt: skip
    forced = ok(env.cli("deployments", "register", "--force", url), "SERVICES THAT WILL BE UPDATED:",
                "Revision: 1 -> 2", "[OK]: DEPLOYMENT:", f"Deployment ID:  {env.deployment}")  # fmt: skip
    assert "Echo           2" in forced.out


def test_deployments_register_and_remove(env: Env, tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path, module="foundation")
    service.start()
    try:
        added = ok(env.cli("deployments", "register", service.url), "SERVICES THAT WILL BE ADDED:", "- Greeter",
                   "[OK]: DEPLOYMENT:")  # fmt: skip
        new_id = re.search(r"Deployment ID:\s+(dp_1\w+)", added.out)
        assert new_id is not None, added.out
        deployment = new_id.group(1)
        refused = env.cli("deployments", "remove", deployment)
        assert refused.rc == 1 and "Deployment is still Active" in refused.out  # hosts the latest revisions
        assert re.search(r"Invocations:\s+0\s", refused.out), refused.out  # counted with SQL
        ok(env.cli("deployments", "remove", "--force", deployment),
           f"[OK]: Deployment {deployment} removed successfully")  # fmt: skip
        assert "Greeter" not in ok(env.cli("services", "list")).out
    finally:
        service.stop()


def test_services_list_describe_and_config(env: Env) -> None:
    listed = ok(env.cli("services", "list"), "NAME", "FLAVOR", "DEPLOYMENT-ID")
    assert any(re.match(r"\[public\]\s+Locker\s+\d+\s+virtual object\s+HTTP\s+dp_1", ln) for ln in listed.lines())
    ok(env.cli("services", "describe", "Echo"), "Name:            Echo", "Service type:    Service",
       f"Endpoint:        {env.stack.service.url}", "echo     JSON string  JSON string")  # fmt: skip
    ok(env.cli("services", "config", "view", "Echo"), "Idempotent requests retention:  1d", "Journal retention:  1d")
    ok(env.cli("services", "config", "patch", "Toggle", "--idempotency-retention", "3h"),
       "Idempotent requests retention:  3h")  # fmt: skip
    ok(env.cli("services", "config", "view", "Toggle"), "Idempotent requests retention:  3h")


def test_services_status(env: Env) -> None:
    key = unique("L")
    holder = env.stack.send(f"Locker/{key}/gated_append", "g1")
    awakeable = env.stack.awakeable(f"{key}/g1")
    queued = env.stack.send(f"Locker/{key}/append", "a2")
    run = ok(env.cli("services", "status", "Locker"), "Summary:", "PENDING", "BACKING-OFF", "Active Keys:")
    summary = {ln.split()[0]: ln.split() for ln in run.lines() if ln.startswith(("append", "gated_append"))}
    assert summary["append"][1] == "1"  # one pending
    assert holder in run.out and f"{key}" in run.out
    key_line = next(ln for ln in run.lines() if ln.startswith(key))
    assert key_line.split()[1] == "1" and holder in key_line  # queue length, lock holder
    env.stack.resolve(awakeable, "go")
    wait_until(lambda: env.status(queued), lambda s: s == "completed", "queued append completed")


# --- invocations


def test_invocations_list_and_describe(env: Env) -> None:
    label = unique("w")
    waiting = env.stack.send("Waiter/wait", label)
    env.stack.awakeable(label)
    delayed = env.stack.server.send("Echo/echo", "later", delay="1h").json()["invocationId"]
    listed = ok(env.cli("invocations", "list"), waiting, delayed, "Target:      Waiter/wait", "Status:      running",
                "Status:  scheduled")  # fmt: skip
    assert re.search(r"Showing \d+/\d+ invocations", listed.out)
    described = ok(env.cli("invocations", "describe", waiting), "Invocation Information:", "Target:       Waiter/wait",
                   "Status:       running", "Invocation Progress:", "#0 [", "Command: Input",
                   "Command: Run [publish]", "Notification: Run")  # fmt: skip
    assert env.deployment in described.out
    missing = env.cli("invocations", "describe", "inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY")
    assert missing.rc == 1 and "Invocation inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY not found!" in missing.out
    ok(env.cli("invocations", "cancel", waiting), "Waiter/wait", "[OK]: Cancelled 1 invocations")
    wait_until(lambda: env.status(waiting), lambda s: s == "completed", "cancelled invocation completed")
    ok(env.cli("invocations", "cancel", delayed), "[OK]: Cancelled 1 invocations")


def test_invocations_pause_resume_kill_purge(env: Env) -> None:
    broken = env.stack.send("Broken/fail", unique("b"))
    wait_until(lambda: env.status(broken), lambda s: s == "backing-off", "Broken/fail backing off")
    ok(env.cli("invocations", "pause", broken), broken, "Broken/fail", "[OK]: Paused 1 invocations")
    assert env.status(broken) == "paused"
    ok(env.cli("invocations", "resume", broken), "[OK]: Resumed 1 invocations")
    ok(env.cli("invocations", "kill", broken), "[OK]: Killed 1 invocations")
    wait_until(lambda: env.status(broken), lambda s: s == "completed", "killed invocation completed")
    nothing = env.cli("invocations", "kill", broken)  # the query finds no active invocation any more
    assert nothing.rc == 1 and f"No invocations found for query {broken}!" in nothing.out, nothing.out
    ok(env.cli("invocations", "purge", broken), "[OK]: Purged 1 invocations")
    assert env.status(broken) == "<none>"


# --- state and sql


def test_state_get_and_clear(env: Env) -> None:
    key = unique("k")
    assert env.stack.call(f"StateBox/{key}/put", {"a": 1, "b": "x"}).status_code == 200
    got = ok(env.cli("state", "get", "StateBox", key), "Service  StateBox", f"Key      {key}")
    assert {tuple(ln.split()) for ln in got.lines()} >= {("a", "1"), ("b", '"x"')}
    cleared_run = ok(
        env.cli("state", "clear", f"StateBox/{key}"), f"StateBox/{key}", "Enqueued successfully for processing"
    )
    # the CLI lists the keys from a hash map: their order differs from run to run (on the real server too)
    assert "[a, b]" in cleared_run.out or "[b, a]" in cleared_run.out, cleared_run.out
    wait_until(lambda: env.stack.call(f"StateBox/{key}/keys").content, lambda body: body == b"[]", "state cleared")
    cleared = ok(env.cli("state", "get", "StateBox", key), "KEY  VALUE")
    assert not any(ln.split()[:1] in (["a"], ["b"]) for ln in cleared.lines())


def test_sql(env: Env) -> None:
    assert env.stack.call("Echo/echo", "hi").status_code == 200
    run = ok(env.cli("sql", "SELECT target, status FROM sys_invocation WHERE target = 'Echo/echo' AND status = "
                            "'completed' LIMIT 1"), "TARGET", "STATUS", "Echo/echo", "1 rows.")  # fmt: skip
    assert "Query took" in run.out
    bad = env.cli("sql", "SELECT nope FROM sys_invocation")
    assert bad.rc == 1 and "Datafusion error: Schema error: No field named nope." in bad.out
