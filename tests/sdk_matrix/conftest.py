"""The SDK matrix: {our SDK, official SDK} x {our server, real server 1.7.12}, same services, same tests.

`tests/services/matrix.py` is ONE service module. It runs under `.venv-official/bin/hypercorn` (where
`import restate` is the official restate-sdk 1.3.0) or under `.venv/bin/hypercorn` (where it is ours).
Each stack is a fresh server + service process, registered over h2c (BIDI_STREAM). Both servers get a
1 s inactivity timeout so that longer awaits exercise suspension and replay.

Test ids contain `sdk_ours`/`sdk_official` and `server_ours`/`server_real` (`-k server_real`, ...).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.net import free_port, wait_http_ok
from tests.support.paths import REPO_ROOT, SERVICES_DIR
from tests.support.procs import ManagedProcess

OUR_VENV_BIN = REPO_ROOT / ".venv" / "bin"
INACTIVITY_TIMEOUT = "1s"
EVENTUAL_DEADLINE_S = 20.0
#: How long a test waits for something our server cannot do yet before it counts as failed (xfail).
UNSUPPORTED_DEADLINE_S = 4.0

SDKS = ("ours", "official")
SERVERS = ("ours", "real")


@dataclass
class Stack:
    """A server with the matrix services registered, and which SDK/server they are."""

    sdk: str
    server_kind: str
    server: RestateServer
    service: ServiceProcess

    @property
    def ours(self) -> bool:
        """True on our server."""
        return self.server_kind == "ours"


def our_sdk_service(log_dir: Path, module: str = "matrix", name: str | None = None) -> ServiceProcess:
    """A ServiceProcess running `module` with OUR SDK (`.venv/bin/hypercorn`, where `import restate` is ours)."""
    service = ServiceProcess(log_dir, module=module, name=name or f"svc-ours-{module}")
    service.process.argv[0] = str(OUR_VENV_BIN / "hypercorn")
    return service


class UvicornService:
    """`uvicorn tests/services/<module>:app` (HTTP/1.1 only) with our SDK, on a free port."""

    def __init__(self, log_dir: Path, module: str = "matrix") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        argv = [OUR_VENV_BIN / "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(self.port),
                "--no-access-log", "--lifespan", "on"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.process = ManagedProcess(f"uvicorn-{self.port}", argv, log_dir / f"uvicorn-{self.port}.log", env=env,
                                      cwd=SERVICES_DIR)  # fmt: skip

    def start(self) -> UvicornService:
        self.process.start()
        try:
            wait_http_ok(f"{self.url}health", 30.0, alive=self.process.alive)
        except BaseException:
            self.process.kill()
            raise
        return self

    def stop(self) -> None:
        self.process.stop(2.0)


def make_server(kind: str, root: Path, env: dict[str, str] | None = None) -> RestateServer:
    """Our server or the real one, with a short inactivity timeout (and `env` on top)."""
    server: RestateServer
    extra = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": INACTIVITY_TIMEOUT, **(env or {})}
    if kind == "ours":
        server = OurRestateServer(root / "data", root / "logs", partitions=2, env=extra)
    else:
        server = RealRestateServer(root / "data", root / "logs", partitions=2)
        assert server.process.env is not None
        server.process.env.update(extra)  # RealRestateServer has no env parameter
    return server


@pytest.fixture(
    scope="session",
    params=[(sdk, srv) for srv in SERVERS for sdk in SDKS],
    ids=[f"sdk_{sdk}-server_{srv}" for srv in SERVERS for sdk in SDKS],
)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sdk, server_kind = request.param
    root = tmp_path_factory.mktemp(f"matrix-{sdk}-{server_kind}")
    server = make_server(server_kind, root)
    if sdk == "ours":
        service = our_sdk_service(root / "logs")
    else:
        service = ServiceProcess(root / "logs", module="matrix", name="svc-official-matrix")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            yield Stack(sdk, server_kind, server, service)
        finally:
            service.stop()
    finally:
        server.stop()


#: Features of the suite that our server does not support yet: key -> reason. A test needing one calls
#: `needs_server_feature`, which marks it xfail(strict=True) on our server, so the cell turns red (XPASS)
#: as soon as the feature lands and the entry must be removed. Never skip instead.
#: History: workflows/promises, attach/output, idempotency keys, admin cancel and ingress awakeable
#: resolution were gaps until the issue-4 server work landed (all XPASSed, so they were removed).
OUR_SERVER_GAPS: dict[str, str] = {}

FEATURES = ("workflows", "attach", "idempotency", "admin-cancel", "ingress-awakeables", "ingress-attach")


def needs_server_feature(request: pytest.FixtureRequest, stack: Stack, feature: str) -> None:
    """Declare that the test needs `feature`; xfail(strict) on our server while it is in OUR_SERVER_GAPS."""
    assert feature in FEATURES, feature
    if stack.ours and feature in OUR_SERVER_GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"our server: {OUR_SERVER_GAPS[feature]}"))


def eventually(probe: Callable[[], Any], done: Callable[[Any], bool], deadline_s: float = EVENTUAL_DEADLINE_S) -> Any:
    """Call `probe` until `done(result)` or the deadline; returns the last result."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if done(result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.05)
