"""The dashboard attached to `restate up` on a terminal: logs go to a file, the view to the terminal."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from rich.console import Console

from restate.config import Config

log = logging.getLogger(__name__)


class AttachedDashboard:
    """Runs the live view in a thread of the supervisor, polling its own admin API.

    Important: `start` must come before the children are spawned. It points file descriptor 2
    (stderr) at `<base-dir>/logs/server.log`, so the children inherit it and their log lines
    do not scroll through the view. `stop` restores the terminal's stderr."""

    def __init__(self, config: Config, refresh_s: float = 1.0) -> None:
        host, port = config.host_port("admin")
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        self.admin_url = f"http://{host}:{port}"
        self.log_path = Path(config.base_dir) / "logs" / "server.log"
        self.refresh_s = refresh_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_stderr: int | None = None
        self._console = Console(file=sys.stdout)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self._saved_stderr = os.dup(2)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the poller's requests are not server logs
        self._console.print(f"[dim]server logs: {self.log_path}   stop: Ctrl-C[/dim]")
        self._thread = threading.Thread(target=self._run, name="dashboard", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from restate.dashboard.live import run_live

        try:
            run_live(self.admin_url, self._console, self.refresh_s, self._stop)
        except Exception:  # the dashboard must never take the server down
            log.exception("the dashboard failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._saved_stderr is not None:
            sys.stderr.flush()
            os.dup2(self._saved_stderr, 2)
            os.close(self._saved_stderr)
            self._saved_stderr = None
