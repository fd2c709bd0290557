"""Invoker behaviour against official-SDK services: suspension by inactivity timeout, V6 vs V7 negotiation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from restate.partition.model import InvocationStatus
from restate.storage import keys
from restate.storage.partition_store import PartitionStore
from tests.support import OurRestateServer, ServiceProcess

PARTITIONS = 2


def _stored_statuses(base_dir: Path) -> list[InvocationStatus]:
    """Reads every invocation status from the (stopped) server's partition stores."""
    found = []
    for i in range(PARTITIONS):
        store = PartitionStore(base_dir / "partitions" / str(i))
        try:
            for _, raw in store.scan(keys.KeyKind.STATUS.value):
                found.append(msgspec.msgpack.decode(raw, type=InvocationStatus))
        finally:
            store.close()
    return found


def _invoke_requests(service: ServiceProcess, handler_path: str) -> int:
    """How many attempts the service saw for a handler (from hypercorn's access log)."""
    return service.process.log_path.read_text().count(f"POST /invoke/{handler_path} ")


@pytest.fixture(params=["v6", "v7"])
def server_and_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[OurRestateServer, ServiceProcess, str]]:
    env = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "1s"}
    if request.param == "v7":
        env["RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7"] = "true"
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=PARTITIONS, env=env).start()
    service = ServiceProcess(tmp_path / "logs")
    try:
        service.start()
        server.register(service.url)
        yield server, service, request.param
    finally:
        service.stop()
        server.stop()


def test_sleep_longer_than_inactivity_timeout_suspends_and_resumes(
    server_and_service: tuple[OurRestateServer, ServiceProcess, str],
) -> None:
    server, service, version = server_and_service
    resp = server.call("Sleeper/sleep", 2500)
    assert resp.status_code == 200, resp.text
    assert resp.json() == "slept 2500ms"
    # first attempt suspended after 1 s of inactivity; the timer resumed it with a second attempt
    assert _invoke_requests(service, "Sleeper/sleep") == 2
    steps = server.call("Steps/three", 1)
    assert steps.status_code == 200 and steps.json() == 4
    server.stop()
    versions = {s.target.handler: s.protocol_version for s in _stored_statuses(server.base_dir)}
    expected = 7 if version == "v7" else 6
    assert versions == {"sleep": expected, "three": expected}
