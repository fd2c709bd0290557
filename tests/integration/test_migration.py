"""Storage migration (ours only): a data directory written by an earlier release (tests/fixtures/migration)
is opened by the current server, which migrates its stored formats, and every invocation it holds runs to
completion with the results and state the scenario promises.

The deployment's stored URI names the port the fixture's service had; the test serves the same service
on a free port and, once the server runs, points the deployment at it with `PATCH /deployments/{id}` (as an
operator would; the invocations pinned to the deployment follow its new address).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.migration.make_fixture import ARCHIVE, MANIFEST, hypercorn
from tests.integration.lifecycle_support import compact, wait_until
from tests.support import OurRestateServer
from tests.support.procs import ManagedProcess

MANIFEST_DATA: dict[str, Any] = json.loads(MANIFEST.read_text())
IDS: dict[str, str] = MANIFEST_DATA["invocations"]
AWAKEABLES: dict[str, str] = MANIFEST_DATA["awakeables"]
DEADLINE_S = 30.0

# What each stored invocation returns once the test has driven it (resolved awakeables, confirmed workflow).
RESULTS = {
    "idempotent": "Hello Ada!",
    "holder": ["first", "held:go"],
    "inboxed_second": ["first", "held:go", "second"],
    "inboxed_third": ["first", "held:go", "second", "third"],
    "relay": "relayed first,held:go,second,third,fourth",
    "sleeper": "slept 120s",
    "delayed": "Hello Later!",
    "workflow_waiting": "ann@example.com confirmed with A11",
    "workflow_done": "bob@example.com confirmed with B0B",
    "paused": "got later",
    "flaky": "went f1",
}
# The invocations that cannot move until the test acts: their status right after the migration.
WAITING = ("holder", "inboxed_second", "inboxed_third", "relay", "workflow_waiting", "paused")


def point_deployment_at(server: OurRestateServer, deployment_id: str, url: str) -> None:
    """The migrated deployment's URI becomes `url` (where the service runs now), through the admin API."""
    resp = server.client.patch(f"{server.admin_url}/deployments/{deployment_id}", json={"uri": url})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["id"], resp.json()["uri"]) == (deployment_id, url)


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[OurRestateServer]:
    """Our server on a copy of the fixture, with the fixture's service reachable (and MigFlaky healed)."""
    base, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(base, filter="data")
    (tmp_path / "ok").touch()  # MigFlaky/go succeeds from now on
    service, url = hypercorn(logs, {"FLAKY_OK_FILE": str(tmp_path / "ok")})
    processes: list[ManagedProcess] = [service]
    try:
        server = OurRestateServer(base, logs, partitions=MANIFEST_DATA["partitions"])
        processes.append(server.process)
        server.start()
        point_deployment_at(server, MANIFEST_DATA["deployment_id"], url)
        yield server
        server.stop()
    finally:
        for process in reversed(processes):
            process.stop(5.0)


def sql(server: OurRestateServer, query: str) -> list[dict[str, Any]]:
    resp = server.client.post(
        f"{server.admin_url}/query", json={"query": query}, headers={"accept": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["rows"]
    return rows


def statuses(server: OurRestateServer) -> dict[str, str]:
    rows = sql(server, "SELECT id, status FROM sys_invocation")
    by_id = {row["id"]: row["status"] for row in rows}
    return {label: by_id.get(inv, "missing") for label, inv in IDS.items()}


def resolve(server: OurRestateServer, label: str, value: str) -> None:
    url = f"{server.ingress_url}/restate/awakeables/{AWAKEABLES[label]}/resolve"
    resp = server.client.post(url, content=compact(value), headers={"content-type": "application/json"})
    assert resp.status_code == 202, resp.text


def test_a_data_directory_of_the_previous_release_runs_to_completion_ours(migrated: OurRestateServer) -> None:
    server = migrated
    found = statuses(server)
    assert {label: found[label] for label in WAITING} == {label: MANIFEST_DATA["statuses"][label] for label in WAITING}
    assert found["idempotent"] == found["workflow_done"] == "completed"

    resolve(server, "hold/k1", "go")  # the holder ends, the key's inbox drains in order
    resp = server.call("MigSignup/ann/confirm", "A11")
    assert resp.status_code == 200 and resp.json() == "confirmed", resp.text
    resolve(server, "wait/w1", "later")  # delivered to the paused invocation, which then resumes
    resp = server.client.patch(f"{server.admin_url}/invocations/{IDS['paused']}/resume")
    assert resp.status_code == 200, resp.text

    wait_until(lambda: statuses(server), lambda s: set(s.values()) == {"completed"}, "all completed", DEADLINE_S)
    for label, expected in RESULTS.items():
        resp = server.client.get(f"{server.ingress_url}/restate/invocation/{IDS[label]}/attach")
        assert (resp.status_code, resp.json()) == (200, expected), label

    again = server.call("MigGreeter/greet", "Ada", {"idempotency-key": "mig-idem-1"})
    assert again.status_code == 200 and again.json() == "Hello Ada!"
    assert sql(server, "SELECT count(*) AS n FROM sys_invocation WHERE idempotency_key = 'mig-idem-1'") == [{"n": 1}]
    state = {
        (row["service_name"], row["service_key"], row["key"]): json.loads(row["value_utf8"])
        for row in sql(server, "SELECT service_name, service_key, key, value_utf8 FROM state")
    }
    assert state == {
        ("MigLocker", "k1", "items"): RESULTS["inboxed_third"] + ["fourth"],
        ("MigSignup", "ann", "email"): "ann@example.com",
        ("MigSignup", "bob", "email"): "bob@example.com",
    }
    promises = sql(server, "SELECT service_key, key, completion_success_value_utf8 AS v FROM sys_promise ORDER BY 1")
    assert promises == [{"service_key": "ann", "key": "confirm", "v": '"A11"'},
                        {"service_key": "bob", "key": "confirm", "v": '"B0B"'}]  # fmt: skip
