"""The SDK matrix: {our SDK, official Python SDK, official TypeScript SDK} x {our server, real server 1.7.12}.

`tests/services/matrix.py` is ONE Python service module. It runs under `.venv-official/bin/hypercorn`
(where `import restate` is the official restate-sdk 1.3.0) or under `.venv/bin/hypercorn` (where it is
ours), registered over h2c (BIDI_STREAM). `tests/services/ts/matrix.ts` has the same services and
handlers on the official `@restatedev/restate-sdk` 1.17.2 (Node, tsx), served twice: over h2c
(BIDI_STREAM) and over HTTP/1.1 registered with `use_http_11` (REQUEST_RESPONSE). Each stack is a fresh
server + service process. Both servers get a 1 s inactivity timeout so that longer awaits exercise
suspension and replay.

Test ids contain `sdk_ours`/`sdk_official`/`sdk_ts-bidi`/`sdk_ts-rr` and `server_ours`/`server_real`
(`-k server_real`, `-k sdk_ts`, ...).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_matrix.ts_service import TsService
from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.net import free_port, wait_http_ok
from tests.support.paths import REPO_ROOT, SERVICES_DIR
from tests.support.procs import ManagedProcess

OUR_VENV_BIN = REPO_ROOT / ".venv" / "bin"
INACTIVITY_TIMEOUT = "1s"
EVENTUAL_DEADLINE_S = 20.0
#: How long a test waits for something our server cannot do yet before it counts as failed (xfail).
UNSUPPORTED_DEADLINE_S = 4.0

#: (SDK, transport): the Python SDKs over h2c, the TypeScript SDK over h2c and over HTTP/1.1.
SDKS = (("ours", "bidi"), ("official", "bidi"), ("ts", "bidi"), ("ts", "rr"))
SERVERS = ("ours", "real")


def _sdk_id(sdk: str, transport: str) -> str:
    """`sdk_ours`, `sdk_official` (bidi only, as always), `sdk_ts-bidi`, `sdk_ts-rr`."""
    return f"sdk_{sdk}-{transport}" if sdk == "ts" else f"sdk_{sdk}"


@dataclass
class Stack:
    """A server with the matrix services registered, and which SDK/server/transport they are."""

    sdk: str
    server_kind: str
    server: RestateServer
    service: ServiceProcess | TsService | UvicornService
    transport: str = "bidi"
    deployment_id: str = ""

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
        argv: list[str | os.PathLike[str]] = [OUR_VENV_BIN / "uvicorn", f"{module}:app", "--host", "127.0.0.1",
                                              "--port", str(self.port), "--no-access-log",
                                              "--lifespan", "on"]  # fmt: skip
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


def matrix_service(sdk: str, transport: str, log_dir: Path) -> ServiceProcess | TsService:
    """The matrix services under `sdk`, served for `transport` (rr exists for the TypeScript SDK only)."""
    if sdk == "ts":
        return TsService(log_dir, "http1" if transport == "rr" else "h2c")
    if sdk == "ours":
        return our_sdk_service(log_dir)
    return ServiceProcess(log_dir, module="matrix", name="svc-official-matrix")


@pytest.fixture(
    scope="session",
    params=[(sdk, transport, srv) for srv in SERVERS for sdk, transport in SDKS],
    ids=[f"{_sdk_id(sdk, transport)}-server_{srv}" for srv in SERVERS for sdk, transport in SDKS],
)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sdk, transport, server_kind = request.param
    root = tmp_path_factory.mktemp(f"matrix-{sdk}-{transport}-{server_kind}")
    server = make_server(server_kind, root)
    service = matrix_service(sdk, transport, root / "logs")
    server.start()
    try:
        service.start()
        try:
            registered = server.register(service.url, use_http_11=transport == "rr")
            yield Stack(sdk, server_kind, server, service, transport, registered["id"])
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
