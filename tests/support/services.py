"""Run an official-SDK service module from tests/services/ under hypercorn (.venv-official)."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

from tests.support.net import free_port, wait_http_ok
from tests.support.paths import HYPERCORN_BIN, SERVICES_DIR
from tests.support.procs import ManagedProcess

# ARCHITECTURE.md section 9: hypercorn's defaults (1,000 requests per connection, 100 streams)
# make the server see in-flight invocations fail; raise them.
HYPERCORN_CONFIG = """\
bind = ["127.0.0.1:{port}"]
workers = 0
keep_alive_max_requests = 1000000000
h2_max_concurrent_streams = 10000
keep_alive_timeout = 600
graceful_timeout = 1.0
accesslog = "-"
errorlog = "-"
"""

# Environment that must not leak into the official venv (it would shadow its `restate`).
_STRIPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class ServiceProcess:
    """`hypercorn tests/services/<module>.py:app` on a free port; `.url` ends with '/'."""

    def __init__(
        self,
        log_dir: Path,
        module: str = "foundation",
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        startup_deadline_s: float = 30.0,
    ) -> None:
        module_file = SERVICES_DIR / f"{module}.py"
        assert module_file.is_file(), f"no service module {module_file}"
        self.name = name or f"svc-{module}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.startup_deadline_s = startup_deadline_s
        config = log_dir / f"{self.name}-{self.port}-hypercorn.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(HYPERCORN_CONFIG.format(port=self.port))
        child_env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        self.process = ManagedProcess(
            self.name,
            [HYPERCORN_BIN, "--config", config, f"{module_file}:app"],
            log_dir / f"{self.name}-{self.port}.log",
            env=child_env,
            cwd=SERVICES_DIR,  # not the repo root: there `import restate` would be ours
        )

    def start(self) -> ServiceProcess:
        self.process.start()
        try:
            wait_http_ok(f"{self.url}health", self.startup_deadline_s, alive=self.process.alive)
        except BaseException:
            self.process.kill()
            raise
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        """SIGTERM (the SDK's hook) + SIGINT (hypercorn's shutdown), SIGKILL after `grace_s`."""
        self.process.stop(grace_s, signals=(signal.SIGTERM, signal.SIGINT))

    def kill(self) -> None:
        self.process.kill()

    def alive(self) -> bool:
        return self.process.alive()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
