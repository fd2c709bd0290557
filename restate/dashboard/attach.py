"""The dashboard attached to `restate up` on a terminal: logs go to a file, the view to the terminal."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.console import Console

from restate.config import Config

log = logging.getLogger(__name__)


ForkFn = Callable[[Callable[..., None], tuple[Any, ...], str], BaseProcess]


def _run_view(admin_url: str, refresh_s: float) -> None:
    """Main of the dashboard process: redraws until SIGTERM or SIGINT (Ctrl-C reaches the whole group)."""
    from restate.dashboard.live import run_live

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the poller's requests are not server logs
    try:
        run_live(admin_url, Console(file=sys.stdout), refresh_s, stop)
    except Exception:  # the dashboard must never take the server down
        log.exception("the dashboard failed")


class AttachedDashboard:
    """Runs the live view in a child process of the supervisor, polling the admin API.

    Important: `start` must come before the server's children are started. It points file
    descriptor 2 (stderr) at `<base-dir>/logs/server.log`, so the children inherit it and their
    log lines do not scroll through the view. `stop` restores the terminal's stderr."""

    def __init__(self, config: Config, refresh_s: float = 1.0) -> None:
        host, port = config.host_port("admin")
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        self.admin_url = f"http://{host}:{port}"
        self.log_path = Path(config.base_dir) / "logs" / "server.log"
        self.refresh_s = refresh_s
        self._process: BaseProcess | None = None
        self._saved_stderr: int | None = None

    def start(self, fork: ForkFn) -> None:
        """Redirects stderr, then starts the view with `fork(target, args, name)`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self._saved_stderr = os.dup(2)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
        Console(file=sys.stdout).print(f"[dim]server logs: {self.log_path}   stop: Ctrl-C[/dim]")
        self._process = fork(_run_view, (self.admin_url, self.refresh_s), "restate-dashboard")

    def stop(self) -> None:
        process = self._process
        if process is not None and process.pid is not None:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()
        if self._saved_stderr is not None:
            sys.stderr.flush()
            os.dup2(self._saved_stderr, 2)
            os.close(self._saved_stderr)
            self._saved_stderr = None
