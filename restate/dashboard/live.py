"""Polls a server's admin API (`/metrics`, `/deployments`) and keeps a rich.Live view of it up to date."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import httpx
from rich.console import Console
from rich.live import Live
from rich.text import Text

from restate.dashboard.model import Snapshot, View, build_view, parse
from restate.dashboard.render import render

WINDOW_S = 10.0  # rates and latency percentiles cover about this much time
TIMEOUT_S = 5.0


class SourceError(Exception):
    """The admin API could not be read (unreachable, or an unexpected answer)."""


class Poller:
    """Scrapes the admin API; each `poll` returns a View with rates over the last WINDOW_S seconds."""

    def __init__(
        self,
        admin_url: str,
        client: httpx.Client | None = None,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.client = client or httpx.Client(timeout=TIMEOUT_S)
        self.window_s = window_s
        self.clock = clock
        self.wall = wall
        self._history: deque[Snapshot] = deque()

    def poll(self) -> View:
        """Scrapes once; raises SourceError when the admin API cannot be read."""
        try:
            response = self.client.get(f"{self.admin_url}/metrics")
            deployments = self.client.get(f"{self.admin_url}/deployments")
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach the admin API at {self.admin_url}: {exc}") from exc
        if response.status_code != 200:
            raise SourceError(f"{self.admin_url}/metrics answered {response.status_code}")
        snap = parse(response.text, self.clock(), self.wall())
        old = self._oldest_within(snap.at)
        self._history.append(snap)
        view = build_view(snap, old)
        view.source = self.admin_url
        if deployments.status_code == 200:
            view.deployments_registered = len(deployments.json().get("deployments", []))
        return view

    def _oldest_within(self, now: float) -> Snapshot | None:
        while len(self._history) > 1 and now - self._history[1].at >= self.window_s:
            self._history.popleft()
        return self._history[0] if self._history else None

    def close(self) -> None:
        self.client.close()


def snapshot(admin_url: str, interval_s: float = 1.0) -> View:
    """One frame with rates measured over `interval_s` (two scrapes); raises SourceError."""
    poller = Poller(admin_url)
    try:
        poller.poll()
        time.sleep(interval_s)
        return poller.poll()
    finally:
        poller.close()


def _waiting(admin_url: str, error: str) -> Text:
    return Text(f"restate dashboard: waiting for {admin_url}  ({error})", style="yellow")


def run_live(
    admin_url: str,
    console: Console,
    refresh_s: float = 1.0,
    stop: threading.Event | None = None,
    wide: bool = False,
) -> None:
    """Redraws the dashboard every `refresh_s` until `stop` is set (or Ctrl-C in the calling thread).

    Each frame fits the terminal's width at the time; `wide` shows every column however narrow it is."""
    stop = stop or threading.Event()
    poller = Poller(admin_url)
    last: View | None = None
    try:
        with Live(Text("restate dashboard: connecting..."), console=console, auto_refresh=False) as live:
            while True:
                try:
                    last = poller.poll()
                    live.update(render(last, wide), refresh=True)
                except SourceError as exc:
                    if last is None:
                        live.update(_waiting(admin_url, str(exc)), refresh=True)
                    else:
                        last.note = str(exc)
                        live.update(render(last, wide), refresh=True)
                if stop.wait(refresh_s):
                    return
    finally:
        poller.close()
