"""Test harness: start a Restate server (ours by default, the real one on request) and the app, register it,
and hand back an ingress client; like the official `restate.create_test_harness`, without containers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from restate.sdk.client import Client, create_client

__all__ = ["HarnessEnvironment", "RestateProcess", "create_test_harness", "serve_in_thread", "test_harness"]

ServerKind = Literal["ours", "real"]


@dataclass
class HarnessEnvironment:
    """What a test gets: the ingress and admin URLs and a client bound to the ingress."""

    ingress_url: str
    admin_api_url: str
    client: Client


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ok(url: str, deadline_s: float, alive: Any = None) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        if alive is not None and not alive():
            raise RuntimeError(f"the process serving {url} exited")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {deadline_s}s")
        time.sleep(0.05)


def _server_env(always_replay: bool, disable_retries: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
    env["RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT"] = "0s" if always_replay else "10m"
    if disable_retries:
        env["RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS"] = "1"
        env["RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS"] = "kill"
    return env


def _find(executable: str, env_var: str) -> str:
    found = os.environ.get(env_var) or shutil.which(executable, path=os.path.dirname(sys.executable))
    found = found or shutil.which(executable)
    if not found:
        raise FileNotFoundError(f"cannot find `{executable}`: set {env_var} to its path")
    return found


class RestateProcess:
    """A Restate server child process in a temporary directory (its own process group)."""

    def __init__(self, kind: ServerKind = "ours", server_bin: str | None = None, follow_logs: bool = False,
                 always_replay: bool = False, disable_retries: bool = False) -> None:  # fmt: skip
        self.base_dir = Path(tempfile.mkdtemp(prefix="restate-harness-"))
        ingress, admin, fabric = free_port(), free_port(), free_port()
        self.ingress_url, self.admin_url = f"http://127.0.0.1:{ingress}", f"http://127.0.0.1:{admin}"
        env = _server_env(always_replay, disable_retries)
        if kind == "ours":
            argv = [server_bin or _find("restate", "RESTATE_BIN"), "up", "--base-dir", str(self.base_dir),
                    "--ingress-bind-address", f"127.0.0.1:{ingress}", "--admin-bind-address", f"127.0.0.1:{admin}",
                    "--partitions", "1"]  # fmt: skip
        else:
            env["RESTATE_INGRESS__BIND_ADDRESS"] = f"127.0.0.1:{ingress}"
            env["RESTATE_ADMIN__BIND_ADDRESS"] = f"127.0.0.1:{admin}"
            env.update(RESTATE_DISABLE_TELEMETRY="true", RESTATE_ADMIN__DISABLE_WEB_UI="true")
            argv = [server_bin or _find("restate-server", "RESTATE_SERVER_BIN"), "--no-logo", "--base-dir",
                    str(self.base_dir), "--bind-address", f"127.0.0.1:{fabric}", "--advertised-address",
                    f"http://127.0.0.1:{fabric}/", "--node-name", f"harness-{fabric}", "--listen-mode", "tcp",
                    "--default-num-partitions", "1"]  # fmt: skip
        output = None if follow_logs else subprocess.DEVNULL
        self.process = subprocess.Popen(argv, env=env, cwd=self.base_dir, stdout=output, stderr=output,
                                        stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip

    def wait_ready(self, deadline_s: float = 60.0) -> None:
        """Poll the ingress and admin health endpoints."""
        alive = lambda: self.process.poll() is None  # noqa: E731
        _wait_ok(f"{self.ingress_url}/restate/health", deadline_s, alive)
        _wait_ok(f"{self.admin_url}/health", deadline_s, alive)

    def register(self, uri: str) -> None:
        """Register a deployment (AssertionError if the server refuses it)."""
        resp = httpx.post(f"{self.admin_url}/deployments", json={"uri": uri}, timeout=30.0)
        if not resp.is_success:
            raise AssertionError(f"unable to register the services at {uri} - {resp.status_code} {resp.text}")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL of the whole process group; removes the data directory."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(self.base_dir, ignore_errors=True)


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Run `app` under hypercorn in a daemon thread; yields its URL (`http://127.0.0.1:port`)."""
    from restate.sdk.serving import serve_async  # noqa: PLC0415 - needs hypercorn

    port = port or free_port()
    ready: dict[str, Any] = {}

    async def run() -> None:
        stop = asyncio.Event()
        ready["stop"] = (asyncio.get_running_loop(), stop)
        await serve_async(app, "127.0.0.1", port, shutdown_trigger=stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(run()), name=f"restate-app-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ok(f"{url}/health", 30.0, thread.is_alive)
        yield url
    finally:
        if "stop" in ready:
            loop, stop = ready["stop"]
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5.0)


@asynccontextmanager
async def create_test_harness(app: Any, follow_logs: bool = False, restate_image: str | None = None,
                              always_replay: bool = False, disable_retries: bool = False,
                              journal_value_codec: Any = None, server: ServerKind = "ours",
                              server_bin: str | None = None) -> AsyncIterator[HarnessEnvironment]:  # fmt: skip
    """Start a server and `app`, register the app, and yield a HarnessEnvironment with a client.

    Args:
        app: the ASGI app (restate.app(...)).
        follow_logs: show the server's output.
        restate_image: ignored (no containers: the server runs as a local process).
        always_replay: inactivity timeout 0, so every await suspends and replays (finds non-determinism).
        disable_retries: one attempt per invocation.
        journal_value_codec: not supported (NotImplementedError).
        server: "ours" (`restate up`, default) or "real" (`restate-server`, from $RESTATE_SERVER_BIN or PATH).
        server_bin: explicit path of the server executable.
    """
    del restate_image
    process = RestateProcess(server, server_bin, follow_logs, always_replay, disable_retries)
    try:
        await asyncio.to_thread(process.wait_ready)
        with serve_in_thread(app) as url:
            await asyncio.to_thread(process.register, url)
            async with create_client(process.ingress_url, journal_value_codec=journal_value_codec) as client:
                yield HarnessEnvironment(process.ingress_url, process.admin_url, client)
    finally:
        await asyncio.to_thread(process.stop)


class _SyncHarness:
    """The deprecated synchronous harness: start()/stop() or a `with` block, then ingress_client()."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app, self.options = app, options
        self.process: RestateProcess | None = None
        self._serving: Any = None

    def start(self) -> _SyncHarness:
        self.process = RestateProcess(**self.options)
        self.process.wait_ready()
        self._serving = serve_in_thread(self.app)
        self.process.register(self._serving.__enter__())
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.__exit__(None, None, None)
        if self.process is not None:
            self.process.stop()

    def ingress_client(self) -> httpx.Client:
        assert self.process is not None, "call start() first"
        return httpx.Client(base_url=self.process.ingress_url)

    def __enter__(self) -> _SyncHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_harness(app: Any, follow_logs: bool = False, restate_image: str | None = None, always_replay: bool = False,
                 disable_retries: bool = False, server: ServerKind = "ours") -> _SyncHarness:  # fmt: skip
    """Deprecated synchronous harness (use create_test_harness)."""
    return _SyncHarness(app, kind=server, follow_logs=follow_logs, always_replay=always_replay,
                        disable_retries=disable_retries)  # fmt: skip


test_harness.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
