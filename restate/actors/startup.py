"""What `restate up` checks before it forks anything: the data directory's lock, the listening sockets, the banner.

A failure here is a `StartupError` whose message is the one line the user sees; nothing has been
started and, in the data directory, nothing but its lock file was written.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from restate.config import Config, parse_bind_address

LOCK_FILE = "LOCK"
LISTEN_BACKLOG = 2048  # uvicorn's default


class StartupError(Exception):
    """The server cannot start; the message names what and why, in one line."""


class DataDirLock:
    """An exclusive `flock` on `<base-dir>/LOCK`, which holds the supervisor's pid.

    Forked children inherit the descriptor, so the directory stays taken while any process of the
    server runs, and the kernel releases it when the last one exits, however it exits."""

    def __init__(self, base_dir: Path, fd: int) -> None:
        self.base_dir = base_dir
        self._fd = fd

    @classmethod
    def acquire(cls, base_dir: str | Path) -> DataDirLock:
        """Creates the directory if needed and takes its lock, or raises a StartupError and writes nothing."""
        base = Path(base_dir).absolute()
        try:
            base.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:  # a file (or a link to one) stands where the directory should be
            raise StartupError(f"cannot create {base}: {os.strerror(errno.ENOTDIR)}") from exc
        except OSError as exc:
            raise StartupError(f"cannot create {base}: {exc.strerror}") from exc
        try:
            fd = os.open(base / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StartupError(f"cannot write to {base}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            raise StartupError(f"another server is using {base}" + (f" (pid {holder})" if holder else "")) from exc
        # Truncated only once the lock is ours: a refused server leaves the holder's pid in place.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(base, fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def listen(address: str, name: str) -> list[socket.socket]:
    """Binds and listens on every address `HOST:PORT` resolves to (as asyncio's create_server does).

    The supervisor owns these sockets and its HTTP children serve on inherited copies: a bind failure
    stops the start-up before any fork, and a restarted child never has to bind again."""
    host, port = parse_bind_address(address, f"{name}.bind-address")
    host = host.removeprefix("[").removesuffix("]")  # an IPv6 literal
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"{name}: cannot listen on {address}: {exc.strerror}") from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
            sock = _bound(family, kind, proto, sockaddr)
            if sock is not None:
                sockets.append(sock)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise StartupError(f"{name}: cannot listen on {address}: {exc.strerror}") from exc
    if not sockets:
        raise StartupError(f"{name}: cannot listen on {address}: {os.strerror(errno.EADDRNOTAVAIL)}")
    return sockets


def _bound(family: int, kind: int, proto: int, sockaddr: tuple[object, ...]) -> socket.socket | None:
    """A listening socket on `sockaddr`; None for an IPv6 address this host does not have (as asyncio)."""
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if family == socket.AF_INET6 and exc.errno == errno.EADDRNOTAVAIL:
            return None
        raise
    return sock


def banner(config: Config, base_dir: Path, node_metrics: str) -> str:
    """The lines printed once at start, like the real server's: where it listens and keeps its data."""
    return "\n".join(
        [
            f"Admin: http://{config.admin_bind_address}/",
            f"HTTP Ingress: http://{config.ingress_bind_address}/",
            f"Node metrics: {node_metrics}",
            f"Data directory: {base_dir} ({config.default_num_partitions} partitions)",
        ]
    )
