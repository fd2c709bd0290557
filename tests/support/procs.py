"""A child process in its own process group, logging to a file, killed by PID/group.

Every ManagedProcess registers its log file (see `registered_logs`, used by conftest.py to
print log tails of failing tests) and is SIGKILLed at interpreter exit if still alive.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogInfo:
    name: str
    path: Path
    process: ManagedProcess

    def log_path_mtime(self) -> float:
        return self.path.stat().st_mtime


_LOGS: list[LogInfo] = []
_LIVE: set[ManagedProcess] = set()


def registered_logs() -> list[LogInfo]:
    """All log files of processes started in this session, oldest first."""
    return list(_LOGS)


class ManagedProcess:
    """Start/stop/kill one command; stdout+stderr are appended to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        _LOGS.append(LogInfo(name, log_path, self))

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: killpg reaches the children too
            )
        _LIVE.add(self)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the whole process group of this process (no-op if it is gone)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the process."""
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        _LIVE.discard(self)

    def stop(self, grace_s: float = 10.0, signals: Iterable[int] = (signal.SIGTERM,)) -> int | None:
        """Send `signals` to the process, wait up to `grace_s`, then SIGKILL the group.

        Returns the exit code (negative for a signal), or None if never started.
        """
        if self.proc is None:
            return None
        if self.alive():
            for sig in signals:
                try:
                    self.proc.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # also reaps stragglers left in the group
        return self.proc.returncode

    def log_tail(self, lines: int = 80) -> str:
        return tail(self.log_path, lines)


def tail(path: Path, lines: int = 80) -> str:
    """Last `lines` lines of a text file ('' if it does not exist)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_LIVE):
        p.kill()
