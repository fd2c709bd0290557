"""The lifecycle tests' stack (one server + the official-SDK lifecycle services) and assertions.

Shared by test_lifecycle.py, test_lifecycle_admin.py, test_cli.py, test_official_cli.py, test_sql.py and
tests/crash/test_lifecycle_crash.py. Expected statuses, headers and bodies are the real server's.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.servers import Body

PARTITIONS = 4
DEADLINE_S = 20.0
POLL_S = 0.05
SERVER_KINDS = ["real", "ours"]
NOT_READY = b'{"code":470,"message":"the invocation exists but has not completed yet","source":"ingress"}'
NOT_FOUND_INGRESS = b'{"code":404,"message":"invocation not found","source":"ingress"}'
# Real 1.7.12: attach (unlike output) to an unknown invocation answers from the invocation side.
NOT_FOUND_ATTACH = b'{"code":404,"message":"not found","source":"invocation"}'
INV_ID_RE = re.compile(r"inv_1[0-9a-zA-Z]{33}")
AWAKEABLE_ID_RE = re.compile(r"sign_1[A-Za-z0-9_-]{38}")


# --- the stack: one server + one official-SDK service process -----------------------------------


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def wait_until(probe: Callable[[], Any], done: Callable[[Any], bool], what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Poll `probe` until `done(result)`; returns that result, raises AssertionError on timeout."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {deadline_s}s (last: {result!r})")
        time.sleep(POLL_S)


@dataclass
class LifecycleStack:
    server: RestateServer
    service: ServiceProcess
    side_effects: Path
    root: Path

    # side-effect file -----------------------------------------------------------------------

    def lines(self, prefix: str = "") -> list[str]:
        return [ln for ln in self.side_effects.read_text().splitlines() if ln.startswith(prefix)]

    def wait_lines(self, prefix: str, n: int = 1) -> list[str]:
        found: list[str] = wait_until(lambda: self.lines(prefix), lambda ls: len(ls) >= n, f"{n} x {prefix!r}")
        return found

    def awakeable(self, label: str) -> str:
        """The id of the awakeable published as `awakeable <label> <id>` (waits for it)."""
        return self.wait_lines(f"awakeable {label} ")[0].split()[2]

    # ingress --------------------------------------------------------------------------------

    def call(self, path: str, body: Body = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.server.call(path, body, headers)

    def send(self, path: str, body: Body = None, headers: dict[str, str] | None = None) -> str:
        """A one-way send that must be accepted as new; returns the invocation id."""
        resp = self.server.send(path, body, headers)
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "Accepted", resp.text
        inv: str = resp.json()["invocationId"]
        return inv

    def get(self, path: str) -> httpx.Response:
        return self.server.client.get(f"{self.server.ingress_url}/{path.lstrip('/')}")

    def output(self, inv: str) -> httpx.Response:
        return self.get(f"restate/invocation/{inv}/output")

    def attach(self, inv: str) -> httpx.Response:
        return self.get(f"restate/invocation/{inv}/attach")

    def resolve(self, awakeable_id: str, value: Any, prefix: str = "awakeables") -> httpx.Response:
        url = f"{self.server.ingress_url}/restate/{prefix}/{awakeable_id}/resolve"
        return self.server.client.post(url, content=compact(value), headers={"content-type": "application/json"})

    def reject(self, awakeable_id: str, message: str, prefix: str = "awakeables") -> httpx.Response:
        url = f"{self.server.ingress_url}/restate/{prefix}/{awakeable_id}/reject"
        return self.server.client.post(url, content=message.encode(), headers={"content-type": "text/plain"})

    def in_background(self, fn: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
        """Run `fn` in a thread; returns a function that joins it and gives its response."""
        result: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: result.setdefault("r", fn()), daemon=True)
        thread.start()

        def join() -> httpx.Response:
            thread.join(DEADLINE_S * 2)
            assert "r" in result, "background request did not finish"
            return result["r"]

        return join

    # admin ----------------------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"accept-encoding": "identity", **kwargs.pop("headers", {})}  # no gzip: exact bytes
        return self.server.client.request(method, f"{self.server.admin_url}{path}", headers=headers, **kwargs)

    def invocation_op(self, inv: str, op: str) -> httpx.Response:
        return self.admin("PATCH", f"/invocations/{inv}/{op}")


def make_server(kind: str, root: Path, partitions: int = PARTITIONS) -> RestateServer:
    if kind == "cluster":  # ours in cluster mode: 3 nodes on 3 etcd members, ingress requests to each in turn
        from tests.support.cluster_nodes import ClusterServer

        return ClusterServer(root, root / "logs", partitions=partitions)
    server_cls = RealRestateServer if kind == "real" else OurRestateServer
    return server_cls(root / "data", root / "logs", partitions=partitions)


@contextmanager
def start_stack(kind: str, root: Path, partitions: int = PARTITIONS) -> Iterator[LifecycleStack]:
    """A started server of `kind` with tests/services/lifecycle.py registered over h2c."""
    side_effects = root / "side_effects.txt"
    side_effects.touch()
    server = make_server(kind, root, partitions)
    service = ServiceProcess(root / "logs", module="lifecycle", env={"SIDE_EFFECT_FILE": str(side_effects)})
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            yield LifecycleStack(server, service, side_effects, root)
        finally:
            service.stop()
    finally:
        server.stop()


# --- assertions ----------------------------------------------------------------------------------


def assert_ok(resp: httpx.Response, body: bytes, inv: str | None = None) -> None:
    """200 with exactly `body` (JSON), an invocation id (`inv` if given) and no error source."""
    assert resp.status_code == 200, resp.text
    assert resp.content == body
    if body:
        assert resp.headers["content-type"] == "application/json"
    else:
        assert "content-type" not in resp.headers
    assert INV_ID_RE.fullmatch(resp.headers.get("x-restate-id", "")), resp.headers
    if inv is not None:
        assert resp.headers["x-restate-id"] == inv
    assert "x-restate-error-source" not in resp.headers


def assert_ingress_error(resp: httpx.Response, status: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.content == compact({"code": status, "message": message, "source": "ingress"})
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-restate-error-source"] == "ingress"
    assert "x-restate-id" not in resp.headers


def assert_invocation_error(resp: httpx.Response, status: int, message: str, inv: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    assert resp.content == compact({"code": status, "message": message, "source": "invocation"})
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-restate-error-source"] == "invocation"
    assert INV_ID_RE.fullmatch(resp.headers.get("x-restate-id", "")), resp.headers
    if inv is not None:
        assert resp.headers["x-restate-id"] == inv


def assert_expires_in_a_day(resp: httpx.Response) -> None:
    """`idempotency-expires` is RFC 3339 with milliseconds, about the default 1d retention ahead."""
    value = resp.headers.get("idempotency-expires", "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", value), resp.headers
    ahead = datetime.fromisoformat(value).timestamp() - time.time()
    assert 86400 - 300 < ahead <= 86400 + 5, value


def assert_accepted(resp: httpx.Response, status: str = "Accepted", inv: str | None = None) -> str:
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert list(body) == ["invocationId", "status"], body
    assert body["status"] == status
    assert INV_ID_RE.fullmatch(body["invocationId"]), body
    assert resp.headers["x-restate-id"] == body["invocationId"]
    assert resp.headers["content-type"] == "application/json"
    if inv is not None:
        assert body["invocationId"] == inv
    out: str = body["invocationId"]
    return out


def assert_empty_202(resp: httpx.Response) -> None:
    assert resp.status_code == 202, resp.text
    assert resp.content == b""
    assert "content-type" not in resp.headers
