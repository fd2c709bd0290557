"""Foundation behaviour, run against the real restate-server 1.7.12 and against ours.

Each parametrization starts its own server plus one official-SDK service process
(tests/services/foundation.py), registered either over h2c (`bidi`, BidiStream) or with
`use_http_11: true` (`rr`, RequestResponse). Test ids contain `real` / `ours`, so
`pytest -k real` or `-k ours` selects one server. Expected bodies and headers are what the
real server returns (see docs HTTP-API.md 1.2, 1.3, 1.10).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.cluster_nodes import ClusterServer

PARTITIONS = 4
EVENTUAL_DEADLINE_S = 20.0


@dataclass
class Stack:
    server: RestateServer
    service: ServiceProcess
    side_effect_file: Path


@pytest.fixture(
    scope="module",
    params=[("real", "bidi"), ("real", "rr"), ("ours", "bidi"), ("ours", "rr"), ("cluster", "bidi")],
    ids=["real-bidi", "real-rr", "ours-bidi", "ours-rr", "cluster-bidi"],
)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    kind, transport = request.param
    root = tmp_path_factory.mktemp(f"{kind}-{transport}")
    server: RestateServer
    if kind == "cluster":  # ours in cluster mode: 3 nodes on 3 etcd members, calls through every node in turn
        server = ClusterServer(root, root / "logs", partitions=PARTITIONS)
    else:
        server_cls = RealRestateServer if kind == "real" else OurRestateServer
        server = server_cls(root / "data", root / "logs", partitions=PARTITIONS)
    side_effects = root / "side_effects.txt"
    side_effects.touch()
    service = ServiceProcess(root / "logs", env={"SIDE_EFFECT_FILE": str(side_effects)})
    server.start()
    try:
        service.start()
        try:
            server.register(service.url, use_http_11=(transport == "rr"))
            yield Stack(server, service, side_effects)
        finally:
            service.stop()
    finally:
        server.stop()


def _compact(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _eventually(probe: Callable[[], Any], done: Callable[[Any], bool], deadline_s: float) -> Any:
    """Call `probe` until `done(result)`; returns the last result (poll, no fixed sleeps)."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if done(result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.05)


def _assert_invocation_id(value: str | None) -> None:
    assert value is not None and value.startswith("inv_1") and len(value) == 38, value


def test_greeter(stack: Stack) -> None:
    resp = stack.server.call("Greeter/greet", "Alice")
    assert resp.status_code == 200, resp.text
    assert resp.content == b'"Hello Alice!"'
    assert resp.headers["content-type"] == "application/json"
    _assert_invocation_id(resp.headers.get("x-restate-id"))


def test_steps_three_side_effects_once(stack: Stack) -> None:
    resp = stack.server.call("Steps/three", 7)
    assert resp.status_code == 200, resp.text
    assert resp.json() == 10
    inv = resp.headers["x-restate-id"]
    lines = [ln for ln in stack.side_effect_file.read_text().splitlines() if ln.startswith(inv + " ")]
    assert lines == [f"{inv} step1", f"{inv} step2", f"{inv} step3"]


def test_sleeper(stack: Stack) -> None:
    t0 = time.monotonic()
    resp = stack.server.call("Sleeper/sleep", 500)
    elapsed = time.monotonic() - t0
    assert resp.status_code == 200, resp.text
    assert resp.json() == "slept 500ms"
    assert elapsed >= 0.5


def _counter_get(server: RestateServer, key: str) -> int:
    resp = server.call(f"Counter/{key}/get")
    assert resp.status_code == 200, resp.text
    value: int = resp.json()
    return value


def test_caller_calls_and_sends(stack: Stack) -> None:
    name = f"X{uuid.uuid4().hex[:8]}"
    resp = stack.server.call("Caller/call_and_send", name)
    assert resp.status_code == 200, resp.text
    assert resp.json() == f"Hello {name}!"
    final = _eventually(lambda: _counter_get(stack.server, name), lambda v: v == 1, EVENTUAL_DEADLINE_S)
    assert final == 1


def test_counter_50_concurrent_sends(stack: Stack) -> None:
    def send_one(_: int) -> httpx.Response:
        return stack.server.send("Counter/k50/add", 1)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send_one, range(50)))
    ids = set()
    for resp in responses:
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert set(body) == {"invocationId", "status"}
        assert body["status"] == "Accepted"
        _assert_invocation_id(body["invocationId"])
        assert resp.headers.get("x-restate-id") == body["invocationId"]
        ids.add(body["invocationId"])
    assert len(ids) == 50

    seen: list[int] = []

    def probe() -> int:
        seen.append(_counter_get(stack.server, "k50"))
        return seen[-1]

    final = _eventually(probe, lambda v: v >= 50, EVENTUAL_DEADLINE_S)
    assert max(seen) <= 50, seen
    assert final == 50, seen
    assert _counter_get(stack.server, "k50") == 50


def test_flaky_retries_until_success(stack: Stack) -> None:
    resp = stack.server.call("Flaky/twice", f"k{uuid.uuid4().hex[:8]}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == "ok after 2 failures"


def test_terminal_error(stack: Stack) -> None:
    resp = stack.server.call("Failing/terminal")
    assert resp.status_code == 418, resp.text
    assert resp.content == _compact({"code": 418, "message": "nope", "source": "invocation"})
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-restate-error-source"] == "invocation"
    _assert_invocation_id(resp.headers.get("x-restate-id"))


_SERVICE_NOT_FOUND = "service 'Nope' not found, make sure to register the service before calling it."
_HANDLER_NOT_FOUND = (
    "the service 'Greeter' exists, but the handler 'nope' was not found, check that the handler "
    "exists in the latest registered service version."
)
_BAD_PATH = "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "Nope/greet", "x", 404, _SERVICE_NOT_FOUND),
        ("POST", "Greeter/nope", "x", 404, _HANDLER_NOT_FOUND),
        ("PUT", "Greeter/greet", "x", 405, "method not allowed"),
        ("POST", "Counter/add", 1, 400, _BAD_PATH),
    ],
    ids=["unknown-service", "unknown-handler", "put-405", "object-missing-key"],
)
def test_ingress_errors(stack: Stack, method: str, path: str, body: Any, status: int, message: str) -> None:
    resp = stack.server.call(path, body, method=method)
    assert resp.status_code == status, resp.text
    assert resp.content == _compact({"code": status, "message": message, "source": "ingress"})
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-restate-error-source"] == "ingress"
    assert "x-restate-id" not in resp.headers
