"""One server for the fuzz tests: ours (`restate up`, 2 partitions) with tests/services/foundation.py registered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fuzz.shapes import log_problems
from tests.support import OurRestateServer, ServiceProcess

PROCESSES = ("admin", "ingress", "p0", "p1")


@dataclass(frozen=True)
class Before:
    """What the server was before the fuzzing: its processes and how much it had logged."""

    pids: dict[str, int]
    log_offset: int


@dataclass
class FuzzTarget:
    server: OurRestateServer
    service: ServiceProcess

    def log_text(self) -> str:
        return self.server.process.log_path.read_text(errors="replace")

    def before(self) -> Before:
        return Before({name: self.server.child_pid(name) for name in PROCESSES}, len(self.log_text()))

    def problems_since(self, before: Before) -> str:
        """What is wrong with the server after the fuzzing ('' when nothing): a process restarted, calls
        no longer answered, errors of ours in the log."""
        server = self.server
        problems = []
        restarted = [name for name in PROCESSES if server.child_pid(name) != before.pids[name]]
        if restarted:
            problems.append(f"restarted: {restarted}")
        health = httpx.get(f"{server.ingress_url}/restate/health", timeout=10)
        greeting = server.call("Greeter/greet", "fuzz")
        if health.status_code != 200 or (greeting.status_code, greeting.content) != (200, b'"Hello fuzz!"'):
            problems.append(f"health {health.status_code}, call {greeting.status_code} {greeting.content[:100]!r}")
        logged = log_problems(self.log_text()[before.log_offset :])
        if logged:
            problems.append(f"{len(logged)} errors in the server log, first: " + " | ".join(logged[:5]))
        return "; ".join(problems)


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    root = tmp_path_factory.mktemp("fuzz")
    server = OurRestateServer(root / "data", root / "logs", partitions=2)
    service = ServiceProcess(root / "logs")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            yield FuzzTarget(server, service)
        finally:
            service.stop()
    finally:
        server.stop()
