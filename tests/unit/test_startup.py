"""Start-up checks: listening sockets owned by the supervisor, the data directory's lock, the banner."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from restate.actors.startup import DataDirLock, StartupError, banner, listen
from restate.config import Config
from tests.support import free_port


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def test_listen_holds_the_port_and_a_second_bind_is_one_line() -> None:
    port = free_port()
    sockets = listen(f"127.0.0.1:{port}", "ingress")
    try:
        assert [sock.getsockname() for sock in sockets] == [("127.0.0.1", port)]
        with pytest.raises(StartupError) as raised:
            listen(f"127.0.0.1:{port}", "admin")
        assert str(raised.value) == f"admin: cannot listen on 127.0.0.1:{port}: Address already in use"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted into the backlog: the port listens before any child serves it
    finally:
        _close(sockets)


def test_listen_on_an_ipv6_literal() -> None:
    port = free_port()
    sockets = listen(f"[::1]:{port}", "admin")
    try:
        assert [(sock.family, sock.getsockname()[:2]) for sock in sockets] == [(socket.AF_INET6, ("::1", port))]
    finally:
        _close(sockets)


def test_listen_on_an_unknown_host_is_one_line() -> None:
    with pytest.raises(StartupError, match=r"^ingress: cannot listen on nonsense\.invalid:8080: "):
        listen("nonsense.invalid:8080", "ingress")


def test_the_lock_names_its_holder_until_released(tmp_path: Path) -> None:
    base = tmp_path / "data"
    lock = DataDirLock.acquire(base)
    assert (base / "LOCK").read_text() == f"{os.getpid()}\n"
    with pytest.raises(StartupError) as raised:
        DataDirLock.acquire(base)  # another open file description: refused like another process
    assert str(raised.value) == f"another server is using {base} (pid {os.getpid()})"
    assert (base / "LOCK").read_text() == f"{os.getpid()}\n"
    lock.release()
    DataDirLock.acquire(base).release()


def test_the_banner_names_addresses_and_data_directory(tmp_path: Path) -> None:
    config = Config(ingress_bind_address="0.0.0.0:8080", admin_bind_address="127.0.0.1:9070", default_num_partitions=3)
    assert banner(config, tmp_path, "off").splitlines() == [
        "Admin: http://127.0.0.1:9070/",
        "HTTP Ingress: http://0.0.0.0:8080/",
        "Node metrics: off",
        f"Data directory: {tmp_path} (3 partitions)",
    ]
