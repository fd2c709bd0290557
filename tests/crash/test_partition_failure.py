"""A partition whose loop fails (a commit that raises StorageError, injected with RESTATE_TEST_FAIL_COMMIT)
logs the failure and exits; the supervisor restarts it, recovery replays, and every invocation submitted
around the failure completes exactly once.

Ours only: the real server has no partition process of its own to lose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from restate.actors.faults import FAIL_COMMIT_ENV
from restate.ids import partition_for, partition_key_for
from tests.support import OurRestateServer, ServiceProcess

PARTITIONS = 2
FAILING = 0  # the partition whose commit fails
NTH_COMMIT = 3  # a commit in the middle of the first calls: some commits succeeded before it
CALL_TIMEOUT_S = 30.0
KEYS, ADDS_PER_KEY = 3, 3


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[OurRestateServer]:
    """Our server whose partition FAILING fails its NTH_COMMIT-th commit, with the foundation services."""
    env = {FAIL_COMMIT_ENV: f"{FAILING}:{NTH_COMMIT}"}
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=PARTITIONS, env=env).start()
    service = ServiceProcess(tmp_path / "logs")
    try:
        service.start()
        server.register(service.url)
        yield server
    finally:
        service.stop()
        server.stop()


def keys_of(partition: int, count: int) -> list[str]:
    """`count` object keys that live on `partition`."""
    candidates = (f"key{i}" for i in range(10_000))
    found = [k for k in candidates if partition_for(partition_key_for(k), PARTITIONS) == partition]
    return found[:count]


def add_one(server: OurRestateServer, key: str) -> httpx.Response:
    with httpx.Client(timeout=CALL_TIMEOUT_S) as client:  # one client per thread
        url = f"{server.ingress_url}/Counter/{key}/add"
        return client.post(url, content=b"1", headers={"content-type": "application/json"})


def test_a_failed_commit_restarts_the_partition_and_loses_nothing(faulty: OurRestateServer) -> None:
    server = faulty
    failing_pid, other_pid = server.child_pid(f"p{FAILING}"), server.child_pid(f"p{1 - FAILING}")
    keys = keys_of(FAILING, KEYS)
    with ThreadPoolExecutor(KEYS * ADDS_PER_KEY) as pool:
        responses = list(pool.map(lambda key: add_one(server, key), keys * ADDS_PER_KEY))
    assert [r.status_code for r in responses] == [200] * len(responses), [r.text for r in responses]
    # every add applied exactly once: each key saw the counts 1..ADDS_PER_KEY, and reads ADDS_PER_KEY now
    seen = Counter(zip(keys * ADDS_PER_KEY, [r.json() for r in responses], strict=True))
    assert seen == Counter({(key, n): 1 for key in keys for n in range(1, ADDS_PER_KEY + 1)})
    for key in keys:
        assert server.call(f"Counter/{key}/get").json() == ADDS_PER_KEY
    # the failure was logged by the partition, which exited; the supervisor restarted it (only it)
    log = server.process.log_path.read_text()
    assert f"p{FAILING} CRITICAL restate.actors.essential_tasks: p{FAILING}: the partition loop failed" in log, log
    assert f"StorageError: injected fault: commit {NTH_COMMIT} fails" in log
    assert f"p{FAILING} exited with code 1; restarting" in log
    assert server.child_pid(f"p{FAILING}") != failing_pid
    assert server.child_pid(f"p{1 - FAILING}") == other_pid
    assert (server.base_dir / "faults" / f"commit-p{FAILING}").is_file()
