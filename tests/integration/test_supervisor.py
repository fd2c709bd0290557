"""The supervisor restarts a child that dies (on the sockets it holds) and stops every process gracefully on SIGTERM."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.support import OurRestateServer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); treat it as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_restart_of_dead_children_and_graceful_stop(tmp_path: Path) -> None:
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=2).start()
    try:
        for child in ("ingress", "admin"):
            old = server.child_pid(child)
            os.kill(old, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while server.child_pid(child) == old:
                assert time.monotonic() < deadline, f"{child} was not restarted"
                time.sleep(0.02)
        server.wait_ready()  # the new ingress and admin serve again
        server.kill_partition(1)
        children = [server.child_pid(name) for name in ("admin", "ingress", "p0", "p1")]
        assert server.call("restate/health", method="GET").status_code == 200
        code = server.stop()
        assert code == 0, server.process.log_tail()
        assert not [pid for pid in children if _alive(pid)]
    finally:
        server.stop()


def test_connections_made_while_the_ingress_restarts_are_served(tmp_path: Path) -> None:
    """The supervisor holds the listening socket: a restarted ingress serves on it without binding again."""
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=2).start()
    try:
        old = server.child_pid("ingress")
        os.kill(old, signal.SIGKILL)
        # At once, before the supervisor noticed: the connection waits in the backlog instead of being refused.
        # Answered by the new ingress (503 while it has not reached every partition yet), never refused.
        response = httpx.get(f"{server.ingress_url}/restate/health", timeout=30)
        assert response.status_code in (200, 503)
        assert server.child_pid("ingress") != old
    finally:
        server.stop()
