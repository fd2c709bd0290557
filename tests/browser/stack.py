"""The browser tests' server: ours or the real one, with tests/services/ui.py registered and known invocations.

`seed()` leaves: a finished `Steps/run`, a running `Waiter/wait`, a failed-and-retrying `Flaky/always`, a
`Drift/run` failing with a journal mismatch, a `Shop` workflow whose call chain is 3 `Hop/step` calls deep (the
deepest waiting on an awakeable), and `Board` objects with state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess

DEADLINE_S = 30.0
POLL_S = 0.1


def wait_for(probe: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Polls `probe` until it returns something truthy; AssertionError after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {deadline_s}s")
        time.sleep(POLL_S)


@dataclass
class UiStack:
    server: RestateServer
    service: ServiceProcess
    ids: dict[str, str] = field(default_factory=dict)

    def sql(self, query: str) -> list[dict[str, Any]]:
        resp = self.server.client.post(
            f"{self.server.admin_url}/query", json={"query": query}, headers={"accept": "application/json"}
        )
        assert resp.status_code == 200, resp.text
        rows: list[dict[str, Any]] = resp.json()["rows"]
        return rows

    def invocation(self, inv: str) -> dict[str, Any] | None:
        rows = self.sql(f"SELECT * FROM sys_invocation WHERE id = '{inv}'")
        return rows[0] if rows else None

    def send(self, path: str, body: Any) -> str:
        resp = self.server.send(path, body)
        assert resp.status_code == 202, resp.text
        inv: str = resp.json()["invocationId"]
        return inv

    def call(self, path: str, body: Any) -> Any:
        resp = self.server.call(path, body)
        assert resp.status_code == 200, resp.text
        return resp.json() if resp.content else None

    def seed(self) -> dict[str, str]:
        ids = self.ids
        resp = self.server.call("Steps/run", "alpha")
        assert resp.status_code == 200, resp.text
        ids["finished"] = resp.headers["x-restate-id"]
        ids["running"] = self.send("Waiter/wait", "w1")
        ids["retrying"] = self.send("Flaky/always", "f1")
        ids["drift"] = self.send("Drift/run", "d1")
        ids["workflow"] = self.send("Shop/o1/run", "order-1")
        self.call("Board/alice/set", {"color": "blue", "count": 3})
        self.call("Board/bob/set", {"tags": ["x", "y"]})
        # The deepest Hop stores its awakeable's id under Board/o1 once the chain is 3 calls deep.
        wait_for(lambda: self.call("Board/o1/get", "awakeable"), "the call chain reaching depth 3")
        wait_for(lambda: len(self.sql("SELECT id FROM sys_invocation WHERE target = 'Hop/step'")) == 3, "3 Hops")
        hops = self.sql("SELECT id, invoked_by_id FROM sys_invocation WHERE target = 'Hop/step'")
        parents = {h["invoked_by_id"] for h in hops}
        ids["leaf"] = next(h["id"] for h in hops if h["id"] not in parents)
        wait_for(lambda: (self.invocation(ids["retrying"]) or {}).get("retry_count", 0) >= 1, "Flaky retried")
        wait_for(lambda: "mismatch" in str((self.invocation(ids["drift"]) or {}).get("last_failure", "")).lower()
                 or "570" in str((self.invocation(ids["drift"]) or {}).get("last_failure_error_code", "")),
                 "Drift's journal mismatch")
        return ids


@contextmanager
def ui_stack(kind: str, root: Path, partitions: int = 4) -> Iterator[UiStack]:
    """A started server of `kind` ("ours" / "real") with tests/services/ui.py registered."""
    server: RestateServer = (OurRestateServer if kind == "ours" else RealRestateServer)(
        root / "data", root / "logs", partitions=partitions
    )
    service = ServiceProcess(root / "logs", module="ui")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            yield UiStack(server, service)
        finally:
            service.stop()
    finally:
        server.stop()


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
