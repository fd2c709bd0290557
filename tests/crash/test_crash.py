"""Crash tests: SIGKILL a partition mid-invocation, and the whole server mid-sleep; nothing accepted is lost.

Side effects are counted in a file the official-SDK service appends to (tests/services/foundation.py).
A step that completed (its result was durably journaled) before the kill must appear exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from restate.ids import InvocationId, partition_for
from tests.support import OurRestateServer, ServiceProcess

PARTITIONS = 4
DEADLINE_S = 60.0


@dataclass
class Crashable:
    server: OurRestateServer
    service: ServiceProcess
    side_effects: Path
    gate: Path

    def lines(self) -> Counter[str]:
        return Counter(self.side_effects.read_text().splitlines())

    def wait_for_suffix(self, suffix: str) -> str:
        """Waits for a line ending with `suffix`; returns its invocation id (the first word)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for line in self.lines():
                if line.endswith(suffix):
                    return line.split()[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no line ending with {suffix!r}; side effects: {self.lines()}")
            time.sleep(0.02)

    def wait_for_line(self, line: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while line not in self.lines():
            if time.monotonic() > deadline:
                raise AssertionError(f"{line!r} never appeared; side effects: {self.lines()}")
            time.sleep(0.02)


@pytest.fixture
def crashable(tmp_path: Path) -> Iterator[Crashable]:
    side_effects = tmp_path / "side_effects.txt"
    side_effects.touch()
    gate = tmp_path / "gate"
    server = OurRestateServer(tmp_path / "data", tmp_path / "logs", partitions=PARTITIONS).start()
    service = ServiceProcess(tmp_path / "logs", env={"SIDE_EFFECT_FILE": str(side_effects), "GATE_FILE": str(gate)})
    try:
        service.start()
        server.register(service.url)
        yield Crashable(server, service, side_effects, gate)
    finally:
        service.stop()
        server.stop()


def _call_in_background(url: str, body: bytes) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    result: dict[str, httpx.Response] = {}

    def run() -> None:
        with httpx.Client(timeout=DEADLINE_S) as client:
            result["response"] = client.post(url, content=body, headers={"content-type": "application/json"})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_partition_killed_between_two_runs(crashable: Crashable) -> None:
    server = crashable.server
    thread, result = _call_in_background(f"{server.ingress_url}/Steps/slow_three", b"7")
    inv = crashable.wait_for_suffix(" gate2-waiting")  # step1 is durable: the SDK only moves on after its ack
    partition = partition_for(InvocationId.parse(inv).partition_key, PARTITIONS)
    server.kill_partition(partition)
    crashable.gate.touch()
    thread.join(DEADLINE_S)
    response = result.get("response")
    assert response is not None and response.status_code == 200, response and response.text
    assert response.json() == 10
    crashable.wait_for_line(f"{inv} step3")
    lines = crashable.lines()
    assert lines[f"{inv} step1"] == 1, lines  # completed before the kill: exactly once
    assert lines[f"{inv} step2"] >= 1 and lines[f"{inv} step3"] == 1, lines


def test_whole_server_killed_during_sleep(crashable: Crashable) -> None:
    server = crashable.server
    accepted = []
    for _ in range(5):
        resp = server.send("Sleeper/sleep_and_record", 3000)
        assert resp.status_code == 202, resp.text
        accepted.append(resp.json()["invocationId"])
    server.kill()  # SIGKILL the supervisor and every child
    server.restart()
    for inv in accepted:
        crashable.wait_for_line(f"{inv} woke")
    # every accepted invocation woke once; give stragglers a chance to show up as duplicates
    follow_up = server.call("Greeter/greet", "after")
    assert follow_up.status_code == 200
    lines = crashable.lines()
    assert all(lines[f"{inv} woke"] == 1 for inv in accepted), lines
