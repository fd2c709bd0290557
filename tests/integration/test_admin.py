"""The admin process for real: run_admin in a subprocess, official-SDK services, and bus peers acking schemas.

Then error shapes and the OpenAPI documents of a whole server, compared with the real server's (ids real/ours).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from restate import wire
from restate.ipc.node import Node
from tests.integration.lifecycle_support import SERVER_KINDS, LifecycleStack, start_stack
from tests.support.net import free_ports, wait_http_ok
from tests.support.paths import HYPERCORN_BIN, REPO_ROOT
from tests.support.procs import ManagedProcess
from tests.support.services import HYPERCORN_CONFIG, ServiceProcess

DATA = REPO_ROOT / "tests" / "unit" / "admin" / "data"
OFFICIAL_ENV_STRIP = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")  # would shadow the official SDK
DEADLINE_S = 30.0
ACK_DELAY_S = 1.0
ADMIN_MAIN = (
    "import sys; from restate.admin.process import run_admin; from restate.config import Config; "
    "run_admin(Config(base_dir=sys.argv[1], admin_bind_address=sys.argv[2], "
    "ingress_bind_address='127.0.0.1:28080', default_num_partitions=1))"
)


def wait_until(predicate: Callable[[], bool], deadline_s: float = DEADLINE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {deadline_s}s")
        time.sleep(0.02)


class FakePeer:
    """A bus peer ("ingress", "p0") in a background thread: asks for the schema, records and acks updates."""

    def __init__(self, base_dir: Path, name: str, ack_delay_s: float = 0.0) -> None:
        self.base_dir, self.name, self.ack_delay_s = base_dir, name, ack_delay_s
        self.updates: list[tuple[float, int]] = []  # (monotonic time received, schema version)
        self.acks: list[tuple[float, int]] = []  # (monotonic time acked, version)
        self.schemas: list[wire.SchemaUpdate] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)
        self._task: asyncio.Future[None] | None = None

    def start(self) -> FakePeer:
        self._thread.start()
        return self

    async def _main(self) -> None:
        node = Node(self.base_dir, self.name)
        node.bind()
        self._task = asyncio.ensure_future(self._serve(node))
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        finally:
            node.close()

    async def _serve(self, node: Node) -> None:
        node.send("admin", wire.GetSchema())
        while True:
            _, message = await node.recv()
            if isinstance(message, wire.SchemaUpdate):
                version = message.schema.version
                self.updates.append((time.monotonic(), version))
                self.schemas.append(message)
                if self.ack_delay_s and version > 0:
                    await asyncio.sleep(self.ack_delay_s)
                self.acks.append((time.monotonic(), version))
                node.send("admin", wire.SchemaAck(version))

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


class Admin:
    """`run_admin` in a child process on a free port."""

    def __init__(self, base_dir: Path, port: int, log_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        argv = [sys.executable, "-c", ADMIN_MAIN, str(base_dir), f"127.0.0.1:{port}"]
        self.process = ManagedProcess("admin", argv, log_dir / f"admin-{port}.log", env=env, cwd=REPO_ROOT)
        self.client = httpx.Client(timeout=30.0)

    def start(self) -> Admin:
        self.process.start()
        wait_http_ok(f"{self.url}/health", DEADLINE_S, alive=self.process.alive)
        return self

    def register(self, payload: dict[str, Any], prefix: str = "") -> httpx.Response:
        return self.client.post(f"{self.url}{prefix}/deployments", json=payload)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(f"{self.url}{path}")

    def stop(self) -> int | None:
        return self.process.stop(10.0, signals=(signal.SIGTERM,))


class SdkServices:
    """tests/unit/admin/data/sdk_services.py (the transcript's Greeter/Counter/Signup) under hypercorn."""

    def __init__(self, log_dir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        config = log_dir / f"sdk-services-{port}.toml"
        config.write_text(HYPERCORN_CONFIG.format(port=port))
        env = {k: v for k, v in os.environ.items() if k not in OFFICIAL_ENV_STRIP}
        argv: list[str | Path] = [HYPERCORN_BIN, "--config", config, f"{DATA / 'sdk_services.py'}:app"]
        self.process = ManagedProcess("sdk-services", argv, log_dir / f"sdk-services-{port}.log", env=env, cwd=DATA)

    def start(self) -> SdkServices:
        self.process.start()
        wait_http_ok(f"{self.url}health", DEADLINE_S, alive=self.process.alive)
        return self


@dataclass
class Env:
    admin: Admin
    ingress: FakePeer
    p0: FakePeer
    sdk: SdkServices
    foundation: ServiceProcess


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("admin")
    logs = base / "logs"
    logs.mkdir()
    admin_port, sdk_port = free_ports(2)
    ingress, p0 = FakePeer(base, "ingress", ACK_DELAY_S).start(), FakePeer(base, "p0").start()
    admin = Admin(base, admin_port, logs)
    sdk = SdkServices(logs, sdk_port)
    foundation = ServiceProcess(logs)
    try:
        admin.start()
        sdk.start()
        foundation.start()
        yield Env(admin, ingress, p0, sdk, foundation)
    finally:
        foundation.kill()
        sdk.process.kill()
        admin.process.kill()
        ingress.stop()
        p0.stop()


def _golden(dp_id: str) -> Any:
    text = (DATA / "transcript_register_response.json").read_text().replace("dp_12PgsFJ82wRXepxIaMzIdLr", dp_id)
    return json.loads(text)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def test_peers_get_the_schema_on_request(env: Env) -> None:
    wait_until(lambda: bool(env.ingress.updates and env.p0.updates), what="initial schemas")
    assert env.ingress.updates[0][1] == env.p0.updates[0][1] == 0


def test_register_over_h2c_matches_the_transcript_and_waits_for_acks(env: Env) -> None:
    admin, ingress, p0 = env.admin, env.ingress, env.p0
    started = time.monotonic()
    reply = admin.register({"uri": env.sdk.url.rstrip("/")})
    answered = time.monotonic()
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert reply.headers["location"] == f"deployments/{body['id']}"
    assert _canonical(body) == _canonical(_golden(body["id"]))
    # admin answered only after both peers acknowledged the new version (ingress acks after a delay)
    assert ingress.acks[-1][1] == p0.acks[-1][1] == 1
    assert started < ingress.acks[-1][0] <= answered
    assert answered - started >= ACK_DELAY_S
    assert set(ingress.schemas[-1].schema.services) == {"Greeter", "Counter", "Signup"}


def test_same_uri_again_is_200_and_force_bumps_revisions(env: Env) -> None:
    admin = env.admin
    again = admin.register({"uri": env.sdk.url})
    assert again.status_code == 200
    assert {s["revision"] for s in again.json()["services"]} == {1}
    forced = admin.register({"uri": env.sdk.url, "force": True})
    assert forced.status_code == 200 and forced.json()["id"] == again.json()["id"]
    assert {s["revision"] for s in forced.json()["services"]} == {2}
    assert admin.register({"uri": env.sdk.url, "force": False}, prefix="/v2").status_code == 409


def test_register_over_http11(env: Env) -> None:
    admin = env.admin
    reply = admin.register({"uri": env.foundation.url, "use_http_11": True, "metadata": {"team": "a"}})
    assert reply.status_code == 201, reply.text
    dp_id = reply.json()["id"]
    detail = admin.get(f"/deployments/{dp_id}").json()
    assert (detail["protocol_type"], detail["http_version"]) == ("RequestResponse", "HTTP/1.1")
    assert detail["metadata"] == {"team": "a"}
    assert {s["inactivity_timeout"] for s in detail["services"]} == {"0s"}
    greeter = admin.get("/v4/services/Greeter").json()
    assert (greeter["deployment_id"], greeter["revision"]) == (dp_id, 3)  # took over Greeter from the SDK services


def test_list_services_and_handlers(env: Env) -> None:
    admin = env.admin
    listed = admin.get("/deployments").json()["deployments"]
    assert [d["uri"] for d in listed] == [env.sdk.url, env.foundation.url]
    assert admin.get("/services/Counter/handlers/get").json()["ty"] == "Shared"
    assert admin.get("/services/Nope").status_code == 404
    assert admin.get("/v1/services").status_code == 400


def test_unreachable_endpoint_is_500_meta0003(env: Env) -> None:
    reply = env.admin.register({"uri": "http://127.0.0.1:1/"})
    assert reply.status_code == 500
    assert reply.json()["restate_code"] == "META0003"
    assert reply.json()["message"].startswith("[META0003] [META0003] error when calling 'http://127.0.0.1:1/'")


def test_delete_then_restart_keeps_the_schema(env: Env) -> None:
    admin = env.admin
    dp_id = admin.get("/deployments").json()["deployments"][1]["id"]
    assert admin.client.delete(f"{admin.url}/deployments/{dp_id}").status_code == 501
    assert admin.client.delete(f"{admin.url}/deployments/{dp_id}?force=true").status_code == 202
    assert admin.get(f"/deployments/{dp_id}").status_code == 404
    greeter = admin.get("/services/Greeter").json()
    assert greeter["revision"] == 2  # back on the SDK services' deployment
    before = admin.get("/deployments").json()
    assert admin.stop() == 0
    admin.start()
    assert admin.get("/deployments").json() == before


# --- Error shapes and OpenAPI documents, against the real server (issue 10, points 6 and 12) ------------------


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LifecycleStack]]:
    """The real server and ours side by side, each with tests/services/lifecycle.py registered."""
    with contextlib.ExitStack() as stack:
        yield {
            kind: stack.enter_context(start_stack(kind, tmp_path_factory.mktemp(f"errors-{kind}"), partitions=2))
            for kind in SERVER_KINDS
        }


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_lone_surrogate_in_a_target_body_is_a_json_500(stacks: dict[str, LifecycleStack], kind: str) -> None:
    """It was an unhandled exception (a text/plain 500) on ours; the real server answers serde's error."""
    server = stacks[kind].server
    for verb, what in (("attach", "request"), ("output", "request"), ("lookup", "lookup")):
        resp = server.call(f"restate/{verb}", b'"\\ud800"')
        assert (resp.status_code, resp.headers["content-type"], resp.headers["x-restate-error-source"]) == (
            500, "application/json", "ingress",
        )  # fmt: skip
        body = resp.json()
        message = body["message"].split("\n\nStack backtrace:")[0]  # the real server appends a Rust backtrace
        assert (body["code"], message, body["source"]) == (
            500, f"cannot read body: invalid {what} body: unexpected end of hex escape at line 1 column 8", "ingress",
        )  # fmt: skip


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_unreachable_deployment_names_its_code_twice(stacks: dict[str, LifecycleStack], kind: str) -> None:
    """Restate decorates a boxed discovery error twice: `[META0003] [META0003] ...` is its body too."""
    resp = stacks[kind].admin("POST", "/deployments", json={"uri": "http://127.0.0.1:1/"})
    assert (resp.status_code, resp.headers["content-type"]) == (500, "application/json")
    body = resp.json()
    assert body["restate_code"] == "META0003" and body["message"].count("[META0003]") == 2
    assert body["message"].startswith("[META0003] [META0003] error when calling 'http://127.0.0.1:1/': ")


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_delete_deployment_ignores_a_body(stacks: dict[str, LifecycleStack], kind: str) -> None:
    stack = stacks[kind]
    unknown = "dp_10nkKoVeh1nvTe4KYSahBS1"
    graceful = stack.admin("DELETE", f"/deployments/{unknown}", json={"force": True})  # force is a query parameter
    assert (graceful.status_code, graceful.content, graceful.headers.get("content-type")) == (501, b"", None)
    forced = stack.admin("DELETE", f"/deployments/{unknown}?force=true", content=b"garbage")
    assert (forced.status_code, forced.json()) == (
        404, {"message": f"not found in the schema registry: deployment with id '{unknown}'", "restate_code": None},
    )  # fmt: skip


def test_service_openapi_documents_equal_the_real_servers(stacks: dict[str, LifecycleStack]) -> None:
    real, ours = stacks["real"], stacks["ours"]
    services = [s["name"] for s in real.admin("GET", "/services").json()["services"]]
    assert len(services) >= 10
    for name in services:
        expected = real.admin("GET", f"/services/{name}/openapi")
        found = ours.admin("GET", f"/services/{name}/openapi")
        assert (found.status_code, found.headers["content-type"]) == (200, "application/json"), name
        # the same bytes, but for the ingress address each server advertises
        assert found.content.replace(ours.server.ingress_url.encode(), real.server.ingress_url.encode()) == (
            expected.content
        ), name
    for stack in (real, ours):
        missing = stack.admin("GET", "/services/Nope/openapi")
        assert (missing.status_code, missing.json()) == (
            404, {"message": "The requested service 'Nope' does not exist", "restate_code": None},
        )  # fmt: skip


def test_admin_openapi_is_the_real_document_for_what_we_serve(stacks: dict[str, LifecycleStack]) -> None:
    real = stacks["real"].admin("GET", "/openapi").json()
    ours = stacks["ours"].admin("GET", "/openapi").json()
    assert (ours["openapi"], ours["info"]) == (real["openapi"], real["info"])
    for path, item in ours["paths"].items():
        for method, operation in item.items():
            assert operation == real["paths"][path][method], (method, path)
    for kind, entries in ours["components"].items():
        for name, value in entries.items():
            assert value == real["components"][kind][name], (kind, name)
    assert {("post", "/deployments"), ("post", "/query"), ("get", "/services/{service}/openapi")} <= {
        (m, p) for p, item in ours["paths"].items() for m in item
    }


def _raw_exchange(port: int, request: bytes) -> bytes:
    """Sends `request` and reads until the server closes the connection (bounded by the socket timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_unparsable_requests_get_a_bare_400(stacks: dict[str, LifecycleStack], kind: str) -> None:
    """hyper answers what is not HTTP/1.1 with a bare 400 and closes; uvicorn sent text/plain (and `server`)."""
    server = stacks[kind].server
    for port in (server.ingress_port, server.admin_port):
        for request in (b"GARBAGE\r\n\r\n", b"GET /health HTTP/1.1\r\nhost x\r\n\r\n", b"GET /health HTTP/9.9\r\n\r\n"):
            head, _, body = _raw_exchange(port, request).partition(b"\r\n\r\n")
            status, *lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            assert (status, body) == ("HTTP/1.1 400 Bad Request", b""), (port, request)
            assert set(headers) == {"connection", "content-length", "date"}, headers
            assert (headers["connection"], headers["content-length"]) == ("close", "0")
