"""`/metrics` of our server (admin port and node port) after a known workload, parsed with prometheus-client.

One server (4 partitions) with tests/services/foundation.py; the workload's invocations are counted
by ingress, partitions and invokers in different processes, so every check also checks the
multi-process aggregation. Then a partition is SIGKILLed: its counters survive in the sums, and the
supervisor's restart shows up. Finally the dashboard is rendered from the live server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from restate.dashboard.live import snapshot
from restate.dashboard.render import render
from tests.support import OurRestateServer, ServiceProcess, free_port

PARTITIONS = 4
Samples = list[tuple[str, dict[str, str], float]]


class Stack:
    def __init__(self, server: OurRestateServer, node_port: int) -> None:
        self.server = server
        self.node_port = node_port

    def scrape(self, url: str | None = None) -> Samples:
        response = httpx.get(url or f"{self.server.admin_url}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(response.text) for s in f.samples]

    def total(self, name: str, samples: Samples | None = None, **labels: str) -> float:
        found = samples if samples is not None else self.scrape()
        return sum(v for n, lbl, v in found if n == name and all(lbl.get(k) == x for k, x in labels.items()))

    def wait_total(self, name: str, expected: float, deadline_s: float = 20.0, **labels: str) -> None:
        deadline = time.monotonic() + deadline_s
        while (got := self.total(name, None, **labels)) != expected:
            assert time.monotonic() < deadline, f"{name}{labels}: {got}, expected {expected}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("metrics")
    node_port = free_port()
    server = OurRestateServer(
        root / "data", root / "logs", partitions=PARTITIONS, env={"RESTATE_BIND_ADDRESS": f"127.0.0.1:{node_port}"}
    )
    service = ServiceProcess(root / "logs", module="foundation")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            yield Stack(server, node_port)
        finally:
            service.stop()
    finally:
        server.stop()


def run_workload(stack: Stack) -> str:
    """The known workload; returns the id of the invocation left sleeping."""
    server = stack.server
    for i in range(5):
        assert server.call("Greeter/greet", f"n{i}").status_code == 200
    for _ in range(3):
        assert server.call("Counter/metrics-key/add", 1).status_code == 200
    assert server.call("Failing/terminal").status_code == 418
    for i in range(2):
        assert server.send("Greeter/greet", f"s{i}").status_code == 202
    assert server.call("Flaky/twice", f"flaky-{uuid.uuid4().hex}").status_code == 200  # 2 failed attempts first
    assert server.call("Nope/nothing", 1).status_code == 404
    sleeping = server.send("Sleeper/sleep", 30_000)
    assert sleeping.status_code == 202
    invocation_id: str = sleeping.json()["invocationId"]
    return invocation_id


def test_metrics_after_a_known_workload(stack: Stack) -> None:
    timers_before = stack.total("restate_partition_timers")
    rejected_before = stack.total("restate_ingress_requests_total", status="rejected")  # readiness probes
    run_workload(stack)
    stack.wait_total("restate_partition_invocations_completed_total", 11, outcome="success")
    stack.wait_total("restate_partition_invocations", 1, status="invoked")  # the sleeper
    # one retention timer per completed invocation (12), plus the sleeper's durable sleep
    stack.wait_total("restate_partition_timers", timers_before + 12 + 1)
    # a partition publishes its and its invoker's counts about once a second (restate/metrics_pending.py):
    # the last attempts' ends and durations may come a publish after the completions
    stack.wait_total("restate_invoker_invocation_tasks_total", 12, status="completed")
    stack.wait_total("restate_invoker_task_duration_seconds_count", 12 + 2)
    samples = stack.scrape()

    def total(name: str, **labels: str) -> float:
        return stack.total(name, samples, **labels)

    # ingress: admitted = 13 requests to existing handlers; 12 answered 2xx, 1 failure, 1 unknown service
    assert total("restate_ingress_requests_total", status="admitted") == 13
    assert total("restate_ingress_requests_total", status="completed") == 12
    assert total("restate_ingress_requests_total", status="completed", rpc_service="Greeter", rpc_type="send") == 2
    assert total("restate_ingress_requests_total", status="invocation_error", rpc_service="Failing") == 1
    assert total("restate_ingress_requests_total", status="rejected") == rejected_before + 1
    # invocations by outcome, and those not completed by status
    assert total("restate_partition_invocations_completed_total", outcome="failure") == 1
    assert total("restate_partition_invocations", status="suspended") == 0
    assert total("restate_partition_invocations", status="inboxed") == 0
    assert total("restate_partition_inbox_depth") == 0
    # invoker: 11 + Failing attempts ended, Flaky failed twice and retried, the sleeper still runs
    started = total("restate_invoker_invocation_tasks_total", status="started")
    completed = total("restate_invoker_invocation_tasks_total", status="completed")
    failed = total("restate_invoker_invocation_tasks_total", status="failed")
    assert completed == 12
    assert failed == total("restate_invoker_retries_total") == 2
    assert started == completed + failed + 1
    assert total("restate_invoker_task_duration_seconds_count") == completed + failed
    assert total("restate_invoker_client_requests_total", status_code="200") >= completed
    # partitions: every batch commit is one fsync; journals hold at least input + output per invocation
    assert total("restate_partition_journal_entries_written_total") >= 2 * 12
    for p in map(str, range(PARTITIONS)):
        batches = total("restate_partition_commit_batch_size_count", partition_id=p)
        assert total("restate_partition_fsync_duration_seconds_count", partition_id=p) == batches
        assert total("restate_partition_commit_batch_size_sum", partition_id=p) <= total(
            "restate_partition_commands_applied_total", partition_id=p
        )
        assert total("restate_partition_start_total", partition_id=p) == 1
    assert total("restate_partition_fsync_duration_seconds_sum") > 0
    # processes, from the supervisor
    assert total("restate_num_partitions") == PARTITIONS
    up = {lbl["process"]: v for n, lbl, v in samples if n == "restate_process_up"}
    assert up == {"admin": 1, "ingress": 1, **{f"p{i}": 1 for i in range(PARTITIONS)}}  # kafka: no subscription


def test_node_port_serves_the_same_metrics(stack: Stack) -> None:
    node = stack.scrape(f"http://127.0.0.1:{stack.node_port}/metrics")
    admin = stack.scrape()
    for name in ("restate_ingress_requests_total", "restate_partition_invocations_completed_total"):
        assert stack.total(name, node) == stack.total(name, admin) > 0


def test_counters_survive_a_partition_crash(stack: Stack) -> None:
    before = stack.scrape()
    name = "restate_partition_commands_applied_total"
    applied = {p: stack.total(name, before, partition_id=str(p)) for p in range(PARTITIONS)}
    victim = max(applied, key=lambda p: applied[p])  # a partition that did some work
    assert applied[victim] > 0
    stack.server.kill_partition(victim)
    stack.wait_total("restate_process_restarts_total", 1, process=f"p{victim}")
    stack.wait_total("restate_partition_start_total", 2, partition_id=str(victim))
    after = stack.scrape()
    # the dead process's counters stay in the sums; the new one adds to them
    assert stack.total("restate_partition_commands_applied_total", after, partition_id=str(victim)) >= applied[victim]
    assert stack.total("restate_process_up", after, process=f"p{victim}") == 1
    assert stack.total("restate_process_pid", after, process=f"p{victim}") == stack.server.child_pid(f"p{victim}")
    # the sleeping invocation is still counted once (recovered by the new process if it lives there)
    stack.wait_total("restate_partition_invocations", 1, status="invoked")


def test_dashboard_renders_the_live_server(stack: Stack) -> None:
    view = snapshot(stack.server.admin_url, 0.5)
    console = Console(record=True, width=200, color_system=None)
    console.print(render(view))
    text = console.export_text()
    for i in range(PARTITIONS):
        assert any(f"│ p{i} " in line and " up " in line for line in text.splitlines()), text
    assert f"{PARTITIONS}/{PARTITIONS} up" in text
    assert view.totals.running == 1
    assert view.totals.deployments == 1 and view.deployments_registered == 1
    assert "admin up  ingress up" in text
    frame = CliRunner().invoke(app, ["--admin-url", stack.server.admin_url, "dashboard", "--json", "--interval", "0.2"])
    assert frame.exit_code == 0, frame.stderr
    assert len(json.loads(frame.stdout)["rows"]) == PARTITIONS
