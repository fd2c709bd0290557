"""Free local ports and readiness polling (never fixed sleeps)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx

POLL_INTERVAL_S = 0.05


def free_ports(n: int) -> list[int]:
    """Return n distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """Return one free TCP port on 127.0.0.1."""
    return free_ports(1)[0]


def wait_http_ok(
    url: str,
    deadline_s: float,
    alive: Callable[[], bool] | None = None,
) -> httpx.Response:
    """Poll GET `url` until it answers 200, for at most `deadline_s` seconds.

    `alive`, if given, is checked on every round; when it returns False the wait stops early
    (the process that should serve `url` has died). Raises TimeoutError / RuntimeError.
    """
    deadline = time.monotonic() + deadline_s
    last: str = "no attempt"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if alive is not None and not alive():
                raise RuntimeError(f"process serving {url} exited before it became ready ({last})")
            try:
                resp = client.get(url)
                if resp.status_code == 200:
                    return resp
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} not ready after {deadline_s}s (last: {last})")
            time.sleep(POLL_INTERVAL_S)
