"""One server for the fuzz tests: ours (`restate up`, 2 partitions) with tests/services/foundation.py registered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import OurRestateServer, ServiceProcess


@dataclass
class FuzzTarget:
    server: OurRestateServer
    service: ServiceProcess

    def log_text(self) -> str:
        return self.server.process.log_path.read_text(errors="replace")


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
