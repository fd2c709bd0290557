"""Invoker behaviour against official-SDK services: suspension by inactivity timeout, V6 vs V7 negotiation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess

PARTITIONS = 2
Server = RestateServer


def _sql(server: Server, query: str) -> list[dict[str, Any]]:
    resp = server.client.post(
        f"{server.admin_url}/query", json={"query": query}, headers={"accept": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["rows"]
    return rows


def _invoke_requests(service: ServiceProcess, handler_path: str) -> int:
    """How many attempts the service saw for a handler (from hypercorn's access log)."""
    return service.process.log_path.read_text().count(f"POST /invoke/{handler_path} ")


def _invoke_requests_once_logged(service: ServiceProcess, handler_path: str, expected: int) -> int:
    """The attempt count once `expected` are logged, or what is logged after 10 s.

    Hypercorn writes an access line when the HTTP/2 stream has closed, which can be just after the
    server has already answered the client from the attempt's output (a race of about a millisecond).
    """
    deadline = time.monotonic() + 10
    while (seen := _invoke_requests(service, handler_path)) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


# V7 is our opt-in: the real server 1.7.12 negotiates V6 with the official SDK whatever the setting
# (RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7, also under WORKER__INVOKER__ or COMMON__).
@pytest.fixture(params=["real-v6", "ours-v6", "ours-v7"])
def server_and_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, ServiceProcess, str]]:
    kind, version = request.param.split("-")
    env = {"RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "true"} if version == "v7" else {}
    server_class = RealRestateServer if kind == "real" else OurRestateServer
    server = server_class(tmp_path / "data", tmp_path / "logs", partitions=PARTITIONS, env=env).start()
    service = ServiceProcess(tmp_path / "logs")
    try:
        service.start()
        server.register(service.url)
        # The service's own setting: the real server 1.7.12 keeps 1m for a registered service even with
        # RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT set.
        patched = server.client.patch(f"{server.admin_url}/services/Sleeper", json={"inactivity_timeout": "1s"})
        assert patched.status_code == 200, patched.text
        yield server, service, version
    finally:
        service.stop()
        server.stop()


def test_sleep_longer_than_inactivity_timeout_suspends_and_resumes(
    server_and_service: tuple[Server, ServiceProcess, str],
) -> None:
    server, service, version = server_and_service
    resp = server.call("Sleeper/sleep", 2500)
    assert resp.status_code == 200, resp.text
    assert resp.json() == "slept 2500ms"
    # first attempt suspended after 1 s of inactivity; the timer resumed it with a second attempt
    assert _invoke_requests_once_logged(service, "Sleeper/sleep", 2) == 2
    steps = server.call("Steps/three", 1)
    assert steps.status_code == 200 and steps.json() == 4
    rows = _sql(server, "SELECT target_handler_name, pinned_service_protocol_version FROM sys_invocation")
    versions = {row["target_handler_name"]: row["pinned_service_protocol_version"] for row in rows}
    expected = 7 if version == "v7" else 6
    assert versions == {"sleep": expected, "three": expected}
