"""Restate servers for tests: the real 1.7.12 binary (reference) and ours (`restate up`).

Both expose `.ingress_url`, `.admin_url` (no trailing slash), `register()`, `call()`, `send()`,
and `start()` / `stop()` / `kill()` / `restart()`. Ports are free ports on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_ports, wait_http_ok
from tests.support.paths import OUR_RESTATE_BIN, REAL_SERVER_BIN
from tests.support.procs import ManagedProcess

Body = bytes | str | int | float | bool | list[Any] | dict[str, Any] | None
"""A request body: raw `bytes`, or any JSON-encodable value."""


def _clean_env() -> dict[str, str]:
    """The current environment without inherited RESTATE_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}


class RestateServer:
    """Common client-side helpers; subclasses build `self.process`."""

    process: ManagedProcess
    ingress_port: int
    admin_port: int
    startup_deadline_s: float = 60.0

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    _client: httpx.Client | None = None
    reused_connection_may_close = False  # ours must never drop a kept-alive connection under a request

    @property
    def client(self) -> httpx.Client:
        """A shared httpx client (HTTP/1.1, 60 s timeout); recreated after stop/kill."""
        if self._client is None:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
            self._client = httpx.Client(timeout=60.0, limits=limits)
        return self._client

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> RestateServer:
        self.process.start()
        try:
            self.wait_ready()
        except BaseException:
            self.process.kill()
            raise
        return self

    def wait_ready(self, deadline_s: float | None = None) -> None:
        """Poll ingress `/restate/health` and admin `/health` until both answer 200."""
        deadline_s = self.startup_deadline_s if deadline_s is None else deadline_s
        t0 = time.monotonic()
        wait_http_ok(f"{self.ingress_url}/restate/health", deadline_s, alive=self.process.alive)
        remaining = max(1.0, deadline_s - (time.monotonic() - t0))
        wait_http_ok(f"{self.admin_url}/health", remaining, alive=self.process.alive)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM, wait up to `grace_s` for a graceful exit, then SIGKILL the group."""
        self.close_client()
        return self.process.stop(grace_s, signals=(signal.SIGTERM,))

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash)."""
        self.close_client()
        self.process.kill()

    def restart(self, graceful: bool = False) -> RestateServer:
        """Stop (or kill) and start again on the same ports and data directory."""
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RestateServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- admin / ingress helpers -----------------------------------------------------------

    def register(self, service_url: str, use_http_11: bool = False, **extra: Any) -> dict[str, Any]:
        """POST /deployments; asserts a 2xx answer and returns its JSON."""
        payload: dict[str, Any] = {"uri": service_url, **extra}
        if use_http_11:
            payload["use_http_11"] = True
        resp = self.client.post(f"{self.admin_url}/deployments", json=payload)
        assert 200 <= resp.status_code < 300, f"register {payload}: {resp.status_code} {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    def call(
        self,
        path: str,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> httpx.Response:
        """Request `{ingress}/{path}`. `bytes` bodies are sent raw, anything else is JSON-encoded
        (so "Alice" goes out as `"Alice"`); any body gets `content-type: application/json`
        unless `headers` sets one. No status assertion."""
        hdrs = dict(headers or {})
        content: bytes | None = None
        if body is not None:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["content-type"] = "application/json"
        url = f"{self.ingress_url}/{path.lstrip('/')}"
        try:
            return self.client.request(method, url, content=content, headers=hdrs)
        except httpx.RemoteProtocolError:
            if not self.reused_connection_may_close:
                raise
            # The pooled connection was closed by the server while idle (see reused_connection_may_close):
            # nothing reached it, so the same request goes again on a fresh connection.
            self.close_client()
            return self.client.request(method, url, content=content, headers=hdrs)

    def send(
        self,
        path: str,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        delay: str | None = None,
    ) -> httpx.Response:
        """One-way send: POST `{ingress}/{path}/send[?delay=...]`."""
        suffix = f"/send?delay={delay}" if delay else "/send"
        return self.call(path.rstrip("/") + suffix, body, headers)


class RealRestateServer(RestateServer):
    """The reference restate-server 1.7.12 (npm binary under .reference/)."""

    # After answering an error before reading the request body, the real server (hyper) closes the
    # keep-alive connection; httpx may reuse it first and get "disconnected without a response".
    reused_connection_may_close = True

    def __init__(
        self,
        base_dir: Path,
        log_dir: Path,
        partitions: int = 4,
        name: str = "real",
        env: Mapping[str, str] | None = None,
    ) -> None:
        assert REAL_SERVER_BIN.is_file(), f"{REAL_SERVER_BIN} missing: run `make test` (it installs it)"
        self.ingress_port, self.admin_port, self.fabric_port = free_ports(3)
        node = f"{name}-{self.fabric_port}"
        extra_env = env
        env = _clean_env()
        env.update(
            {
                "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{self.ingress_port}",
                "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{self.admin_port}",
                "RESTATE_DISABLE_TELEMETRY": "true",
                "RESTATE_ADMIN__DISABLE_WEB_UI": "true",
                "RESTATE_LOG_DISABLE_ANSI_CODES": "true",
                "RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE": "256MiB",
                "DO_NOT_TRACK": "1",
                **(extra_env or {}),
            }
        )
        argv: list[str | os.PathLike[str]] = [
            REAL_SERVER_BIN,
            "--no-logo",
            "--base-dir", base_dir,
            "--bind-address", f"127.0.0.1:{self.fabric_port}",
            "--advertised-address", f"http://127.0.0.1:{self.fabric_port}/",
            "--node-name", node,
            "--cluster-name", f"cluster-{node}",
            "--listen-mode", "tcp",  # no unix sockets (path length limits in tmp dirs)
            "--default-num-partitions", str(partitions),
        ]  # fmt: skip
        self.process = ManagedProcess(node, argv, log_dir / f"{node}.log", env=env, cwd=base_dir)
        base_dir.mkdir(parents=True, exist_ok=True)


class OurRestateServer(RestateServer):
    """Our server: `.venv/bin/restate up` with explicit base dir, ports and partition count."""

    def __init__(
        self,
        base_dir: Path,
        log_dir: Path,
        partitions: int = 4,
        name: str = "ours",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.ingress_port, self.admin_port = free_ports(2)
        self.partitions = partitions
        self.base_dir = base_dir
        label = f"{name}-{self.ingress_port}"
        argv: list[str | os.PathLike[str]] = [
            OUR_RESTATE_BIN, "up",
            "--base-dir", base_dir,
            "--ingress-bind-address", f"127.0.0.1:{self.ingress_port}",
            "--admin-bind-address", f"127.0.0.1:{self.admin_port}",
            "--partitions", str(partitions),
        ]  # fmt: skip
        base_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            label,
            argv,
            log_dir / f"{label}.log",
            # No node metrics port unless asked for: servers side by side would all want 5122.
            env={**_clean_env(), "RESTATE_BIND_ADDRESS": "", **(env or {})},
            cwd=base_dir,
        )

    def child_pid(self, name: str) -> int:
        """The pid of a child process ("admin", "ingress", "p0", ...) from the supervisor's pid files."""
        return int((self.base_dir / "pids" / f"{name}.pid").read_text())

    def kill_partition(self, i: int, deadline_s: float = 30.0) -> None:
        """SIGKILL the process of partition `i` and wait until the supervisor has started a new one."""
        old = self.child_pid(f"p{i}")
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + deadline_s
        while self.child_pid(f"p{i}") == old:
            if time.monotonic() > deadline:
                raise TimeoutError(f"partition {i} was not restarted within {deadline_s}s")
            time.sleep(0.02)
