"""The matrix services on the official TypeScript SDK (tests/services/ts), run by Node with tsx, on a free port."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx

from tests.support.net import POLL_INTERVAL_S, free_port
from tests.support.paths import SERVICES_DIR
from tests.support.procs import ManagedProcess

TS_DIR = SERVICES_DIR / "ts"
TS_SDK_PACKAGE = TS_DIR / "node_modules" / "@restatedev" / "restate-sdk" / "package.json"
#: The two ways the TS services are served: h2c (BIDI_STREAM) and HTTP/1.1 (REQUEST_RESPONSE, `use_http_11`).
TRANSPORTS = ("h2c", "http1")
APPS = ("matrix", "bench")


class TsService:
    """`node --import tsx serve.ts <port> <transport> <app>` in tests/services/ts; `.url` ends with '/'.
    `app`: "matrix" (matrix.ts, the SDK matrix's services) or "bench" (bench.ts, the benchmark's)."""

    def __init__(
        self, log_dir: Path, transport: str = "h2c", startup_deadline_s: float = 30.0, app: str = "matrix"
    ) -> None:
        assert transport in TRANSPORTS, transport
        assert app in APPS, app
        assert TS_SDK_PACKAGE.is_file(), f"{TS_SDK_PACKAGE} missing: run `make setup` (it runs npm ci there)"
        node = shutil.which("node")
        assert node is not None, "node (20+) is required for the TypeScript SDK services"
        self.transport = transport
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.startup_deadline_s = startup_deadline_s
        name = f"svc-ts-{app}-{transport}-{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
        argv = [node, "--import", "tsx", "serve.ts", str(self.port), transport, app]
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log", env=env, cwd=TS_DIR)

    @property
    def use_http_11(self) -> bool:
        """Whether the server must reach it over HTTP/1.1 (request/response)."""
        return self.transport == "http1"

    def start(self) -> TsService:
        self.process.start()
        try:
            self._wait_healthy()
        except BaseException:
            self.process.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        """Poll GET /health over the service's own protocol (an h2c server speaks no HTTP/1.1)."""
        h2c = self.transport == "h2c"
        deadline = time.monotonic() + self.startup_deadline_s
        last = "no attempt"
        with httpx.Client(http1=not h2c, http2=h2c, timeout=2.0) as client:
            while True:
                if not self.process.alive():
                    raise RuntimeError(f"{self.process.name} exited before it became ready ({last})")
                try:
                    resp = client.get(f"{self.url}health")
                    if resp.status_code == 200:
                        return
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.url}health not ready after {self.startup_deadline_s}s (last: {last})")
                time.sleep(POLL_INTERVAL_S)

    def stop(self) -> None:
        self.process.stop(2.0)

    def alive(self) -> bool:
        return self.process.alive()
