"""Kafka clusters and subscriptions on our server (no broker needed): the admin API survives a restart, and
the official CLI 1.7.12's and our CLI's `subscriptions` / `kafka-clusters` commands work against it
(their output lines are the real server's, ../shared/docs/reference/kafka/cli_*.txt)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT, OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.paths import OUR_RESTATE_BIN
from tests.unit.admin.test_kafka_admin import ERRORS

CLI = REPO_ROOT / ".reference" / "node_modules" / "@restatedev" / "restate-linux-x64" / "bin" / "restate"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STATIC = """
[[ingress.kafka-clusters]]
name = "my-cluster"
brokers = ["PLAINTEXT://127.0.0.1:19092"]
"""


@dataclass
class Stack:
    server: OurRestateServer
    home: Path

    def run(self, binary: Path, *args: str) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        env.update({"RESTATE_ADMIN_URL": self.server.admin_url, "CI": "1", "HOME": str(self.home), "NO_COLOR": "1",
                    "TERM": "dumb", "COLUMNS": "250"})  # fmt: skip
        done = subprocess.run([str(binary), *args], env=env, capture_output=True, timeout=60, check=False)
        return done.returncode, ANSI.sub("", (done.stdout + done.stderr).decode("utf-8", "replace"))

    def official(self, *args: str) -> tuple[int, str]:
        return self.run(CLI, *args)

    def ours(self, *args: str) -> tuple[int, str]:
        return self.run(OUR_RESTATE_BIN, "--admin-url", self.server.admin_url, *args)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("kafka-admin")
    config = root / "restate.toml"
    config.write_text(STATIC)
    (root / "home").mkdir()
    with ServiceProcess(root / "logs", "kafka_sinks") as svc:
        server = OurRestateServer(root / "data", root / "logs", partitions=2, env={"RESTATE_CONFIG": str(config)})
        with server:
            server.register(svc.url)
            yield Stack(server, root / "home")


def _kafka_pid(server: OurRestateServer) -> int | None:
    path = server.base_dir / "pids" / "kafka.pid"
    return int(path.read_text()) if path.exists() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _until(probe: Callable[[], object], what: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not probe():
        assert time.monotonic() < deadline, f"timed out after {deadline_s}s waiting for {what}"
        time.sleep(0.05)


def _admin_up(server: OurRestateServer) -> bool:
    try:
        return server.client.get(f"{server.admin_url}/health").status_code == 200
    except httpx.TransportError:
        return False


def _kafka_restarts(server: OurRestateServer) -> float:
    text = server.client.get(f"{server.admin_url}/metrics").text
    prefix = 'restate_process_restarts_total{process="kafka"}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_the_kafka_process_runs_only_while_a_subscription_exists(stack: Stack) -> None:
    """First of this module: no subscription yet. Started on the first, at start-up while one is stored,
    stopped (not a crash, not restarted) when the last one is deleted."""
    server = stack.server
    assert server.client.get(f"{server.admin_url}/subscriptions").json() == {"subscriptions": []}
    assert _kafka_pid(server) is None
    body = {"source": "kafka://my-cluster/lazy", "sink": "service://KSvc/raw"}
    first = server.client.post(f"{server.admin_url}/subscriptions", json=body).json()["id"]
    _until(lambda: _kafka_pid(server), "the kafka process started")
    second = server.client.post(f"{server.admin_url}/subscriptions", json={**body, "source": "kafka://my-cluster/l2"})
    pid = _kafka_pid(server)
    assert pid is not None and _alive(pid)
    server.restart(graceful=True)  # a stored subscription: started at start-up
    _until(lambda: _kafka_pid(server) not in (None, pid), "the kafka process started after the restart")
    pid = _kafka_pid(server)
    assert pid is not None
    admin = server.child_pid("admin")
    os.kill(admin, signal.SIGKILL)  # the restarted admin says again what it stored: no change for kafka
    _until(lambda: server.child_pid("admin") != admin, "admin restarted")
    _until(lambda: _admin_up(server), "the restarted admin answers")
    assert server.client.delete(f"{server.admin_url}/subscriptions/{first}").status_code == 202
    time.sleep(0.5)  # a wrong stop would show now (the supervisor answers admin's word within this)
    assert _kafka_pid(server) == pid and _alive(pid)  # one left: it keeps running
    assert server.client.delete(f"{server.admin_url}/subscriptions/{second.json()['id']}").status_code == 202
    _until(lambda: _kafka_pid(server) is None and not _alive(pid), "the kafka process stopped")
    time.sleep(0.5)  # a restart would show now
    assert _kafka_pid(server) is None
    assert _kafka_restarts(server) == 0


def test_subscriptions_survive_a_restart(stack: Stack) -> None:
    server = stack.server
    body = {"source": "kafka://my-cluster/t1", "sink": "service://KObj/add", "options": {"group.id": "g1"}}
    created = server.client.post(f"{server.admin_url}/subscriptions", json=body)
    assert created.status_code == 201, created.text
    sub = created.json()
    dyn = {"name": "dyn", "properties": {"bootstrap.servers": "127.0.0.1:1", "sasl.password": "pw"}}
    assert server.client.post(f"{server.admin_url}/kafka-clusters", json=dyn).status_code == 201
    server.restart(graceful=True)
    assert server.client.get(f"{server.admin_url}/subscriptions/{sub['id']}").json() == sub
    listed = server.client.get(f"{server.admin_url}/kafka-clusters").json()["clusters"]
    assert [(c["name"], c["properties"].get("sasl.password")) for c in listed] == [("dyn", "***"), ("my-cluster", None)]
    assert server.client.delete(f"{server.admin_url}/subscriptions/{sub['id']}").status_code == 202
    assert server.client.delete(f"{server.admin_url}/kafka-clusters/dyn").status_code == 202


def test_the_official_cli_subscription_commands(stack: Stack) -> None:
    rc, out = stack.official("-y", "subscriptions", "create", "kafka://my-cluster/t1", "service://KSvc/raw",
                             "auto.offset.reset=latest")  # fmt: skip
    assert rc == 0, out
    found = re.search(r"\[OK\]: Subscription (sub_1\w{22}) created", out)
    assert found, out
    sub_id = found.group(1)
    rc, out = stack.official("subscriptions", "list")
    assert rc == 0 and re.search(rf"{sub_id}\s+kafka://my-cluster/t1\s+service://KSvc/raw\s+3", out), out
    rc, out = stack.official("sub", "list", "--sink", "service://KObj/add")
    assert rc == 0 and sub_id not in out, out
    rc, out = stack.official("subscriptions", "describe", sub_id)
    assert rc == 0, out
    for line in (f"ID:             {sub_id}", "Kafka brokers:  PLAINTEXT://127.0.0.1:19092", "group.id",
                 "auto.offset.reset  latest"):  # fmt: skip
        assert line in out, out
    rc, out = stack.official("-y", "subscriptions", "create", "kafka://nope/t1", "service://KSvc/raw")
    assert rc == 1 and "Kafka cluster 'nope' not found. Available clusters: [\"my-cluster\"]" in out, out
    rc, out = stack.official("-y", "subscriptions", "delete", sub_id)
    assert rc == 0 and f"[OK]: Subscription {sub_id} deleted" in out, out


def test_the_official_cli_kafka_cluster_commands(stack: Stack) -> None:
    rc, out = stack.official("kafka-clusters", "list")
    assert rc == 0 and re.search(r"my-cluster\s+PLAINTEXT://127.0.0.1:19092\s+1\s+Thu 01 Jan 1970", out), out
    rc, out = stack.official("-y", "kafka-clusters", "create", "dyn2", "bootstrap.servers=127.0.0.1:19092",
                             "sasl.password=hunter2")  # fmt: skip
    assert rc == 0, out
    listed = stack.server.client.get(f"{stack.server.admin_url}/kafka-clusters/dyn2").json()
    assert listed["properties"]["sasl.password"] == "***"
    rc, out = stack.official("kafka-clusters", "describe", "my-cluster")
    assert rc == 0 and "PLAINTEXT://127.0.0.1:19092" in out, out
    rc, out = stack.official("-y", "kafka-clusters", "delete", "dyn2")
    assert rc == 0 and "[OK]: Kafka cluster dyn2 deleted" in out, out


def test_our_cli_subscription_and_cluster_commands(stack: Stack) -> None:
    rc, out = stack.ours("subscriptions", "create", "kafka://my-cluster/t2", "service://KObj/add",
                         "auto.offset.reset=earliest")  # fmt: skip
    assert rc == 0, out
    sub_id = re.search(r"Subscription (sub_1\w{22}) created", out).group(1)  # type: ignore[union-attr]
    rc, out = stack.ours("subscriptions", "list", "--source", "kafka://my-cluster/t2")
    assert rc == 0 and sub_id in out and "service://KObj/add" in out, out
    rc, out = stack.ours("subscriptions", "describe", sub_id)
    assert rc == 0 and "PLAINTEXT://127.0.0.1:19092" in out and "earliest" in out, out
    rc, out = stack.ours("subscriptions", "create", "kafka://my-cluster/t2", "service://KObj/nope")
    assert rc == 1 and "cannot find service/handler" in out, out
    rc, out = stack.ours("kafka-clusters", "list")
    assert rc == 0 and "my-cluster" in out, out
    rc, out = stack.ours("subscriptions", "delete", sub_id)
    assert rc == 0 and f"Subscription {sub_id} deleted" in out, out
    definition = stack.home / "sub.properties"
    definition.write_text("source=kafka://my-cluster/t3\nsink=service://KSvc/raw\nauto.offset.reset=earliest\n")
    rc, out = stack.ours("subscriptions", "create", "--from-file", str(definition), "--json")
    assert rc == 0 and '"source": "kafka://my-cluster/t3"' in out and '"auto.offset.reset": "earliest"' in out, out


# --- the same requests to the real server and to ours: the same answers ------------------------------------


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RestateServer]]:
    root = tmp_path_factory.mktemp("kafka-admin-both")
    config = root / "restate.toml"
    config.write_text(STATIC)
    env = {"RESTATE_CONFIG": str(config)}
    with ServiceProcess(root / "logs", "kafka_sinks") as svc:
        real = RealRestateServer(root / "real", root / "logs", partitions=2, env=env)
        ours = OurRestateServer(root / "ours", root / "logs", partitions=2, env=env)
        with real, ours:
            for server in (real, ours):
                server.register(svc.url)
            yield {"real": real, "ours": ours}


def _answer(server: RestateServer, method: str, path: str, body: bytes | None = None) -> tuple[int, str, object]:
    headers = {"content-type": "application/json"} if body is not None else {}
    resp = server.client.request(method, f"{server.admin_url}{path}", content=body, headers=headers)
    kind = resp.headers.get("content-type", "")
    return resp.status_code, kind, resp.json() if kind == "application/json" else resp.text


@pytest.mark.parametrize("body", [e[0] for e in ERRORS], ids=range(len(ERRORS)))
def test_create_errors_are_the_real_servers(both: dict[str, RestateServer], body: str) -> None:
    real, ours = (_answer(both[n], "POST", "/subscriptions", body.encode()) for n in ("real", "ours"))
    assert ours == real


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/subscriptions/foo"), ("GET", "/subscriptions/sub_1aaaaaaaaaaaaaaaaaaaaaa"),
     ("DELETE", "/subscriptions/sub_103RlOtQ3HTvcDwI2KCoqKl"), ("GET", "/subscriptions/sub_103RlOtQ3HTvcDwI2KCoqKl"),
     ("GET", "/kafka-clusters/nope"), ("DELETE", "/kafka-clusters/nope"), ("PATCH", "/kafka-clusters/my-cluster"),
     ("GET", "/subscriptions?sink=service://KObj/nope"), ("GET", "/kafka-clusters/my-cluster")],
)  # fmt: skip
def test_lookups_are_the_real_servers(both: dict[str, RestateServer], method: str, path: str) -> None:
    body = b'{"properties":{"bootstrap.servers":"x:1"}}' if method == "PATCH" else None
    real, ours = (_answer(both[n], method, path, body) for n in ("real", "ours"))
    assert ours == real


def test_a_created_subscription_reads_back_as_on_the_real_server(both: dict[str, RestateServer]) -> None:
    body = b'{"source":"kafka://my-cluster/a/b?x=1","sink":"service://KObj/add","options":{"group.id":"g"}}'
    views = {}
    for name, server in both.items():
        status, _, created = _answer(server, "POST", "/subscriptions", body)
        assert status == 201
        assert isinstance(created, dict)
        sub_id = created.pop("id")
        assert created["options"].pop("group.id") == "g"
        views[name] = created
        assert _answer(server, "DELETE", f"/subscriptions/{sub_id}")[0] == 202
    assert views["ours"] == views["real"]
