"""Quick checks of the test-support helpers (ports, readiness polling, ServiceProcess)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ServiceProcess, free_port, free_ports, wait_http_ok


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_wait_http_ok_times_out_quickly_on_closed_port() -> None:
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        wait_http_ok(f"http://127.0.0.1:{free_port()}/health", deadline_s=0.3)
    assert time.monotonic() - t0 < 5.0


def test_wait_http_ok_stops_when_process_died() -> None:
    with pytest.raises(RuntimeError, match="exited"):
        wait_http_ok(f"http://127.0.0.1:{free_port()}/health", deadline_s=30.0, alive=lambda: False)


def test_service_process_starts_and_stops(tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path, module="foundation").start()
    try:
        assert svc.url == f"http://127.0.0.1:{svc.port}/"
        resp = httpx.get(f"{svc.url}health", timeout=5.0)
        assert resp.status_code == 200
        # served by the OFFICIAL SDK (not this repo's `restate` package)
        assert resp.headers.get("x-restate-server", "").startswith("restate-sdk-python/")
        assert svc.alive()
    finally:
        svc.stop()
    assert not svc.alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{svc.url}health", timeout=2.0)
