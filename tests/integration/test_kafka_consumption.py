"""Kafka subscriptions end to end with a real broker (Tansu): records become invocations exactly once.

One broker, one sink service (tests/services/kafka_sinks.py) and our server (2 partitions) with the broker
as a static cluster. Tansu forms a new consumer group in about 20 s (80 s after a consumer restart): the
subscriptions are created together, up front, and every wait is bounded and generous."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.kafka_broker import TansuBroker
from tests.support.paths import OUR_RESTATE_BIN

GROUP_FORMING_S = 150.0  # a new group on Tansu takes ~20 s, ~80 s after a restart: generous, bounded
OPTIONS = {"auto.offset.reset": "earliest", "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
KEYS = [f"key{i:02d}" for i in range(20)]
PER_KEY = 50  # 1,000 records over 20 keys
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class Stack:
    which: str  # "ours" or "real"
    broker: TansuBroker
    server: RestateServer
    side_effects: Path
    subs: dict[str, str]

    def lines(self) -> list[dict[str, Any]]:
        if not self.side_effects.exists():
            return []
        return [json.loads(line) for line in self.side_effects.read_text().splitlines() if line.strip()]

    def events(self, key: str) -> list[str]:
        return self.events_of("KObj", key)

    def events_of(self, service: str, key: str) -> list[str]:
        resp = self.server.client.post(f"{self.server.ingress_url}/{service}/{key}/get")
        assert resp.status_code == 200, resp.text
        found: list[str] = resp.json()
        return found

    def consumed(self, sub_id: str) -> float:
        """Records the subscription's consumers read, over every incarnation (from `/metrics`)."""
        text = self.server.client.get(f"{self.server.admin_url}/metrics").text
        prefix = f'restate_kafka_ingress_requests_total{{subscription="{sub_id}"'
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    def parked(self, sub_id: str) -> list[dict[str, Any]]:
        resp = self.server.client.get(f"{self.server.admin_url}/subscriptions/{sub_id}/parked")
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["records"]
        return found

    def metric(self, name: str, sub_id: str) -> float:
        text = self.server.client.get(f"{self.server.admin_url}/metrics").text
        prefix = f'{name}{{subscription="{sub_id}"'
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    def subscribe(self, topic: str, sink: str, **options: str) -> str:
        body = {"source": f"kafka://tansu/{topic}", "sink": sink, "options": {**OPTIONS, **options}}
        resp = self.server.client.post(f"{self.server.admin_url}/subscriptions", json=body)
        assert resp.status_code == 201, resp.text
        sub_id: str = resp.json()["id"]
        return sub_id


def wait_for(probe: Callable[[], Any], done: Callable[[Any], bool], what: str, deadline_s: float) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}; last: {str(value)[:2000]}")
        time.sleep(0.25)


@pytest.fixture(scope="module", params=["ours", "real"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    which: str = request.param
    root = tmp_path_factory.mktemp(f"kafka-{which}")
    side_effects = root / "side_effects.jsonl"
    with TansuBroker(root / "logs") as broker:
        config = root / "restate.toml"
        config.write_text(f'[[ingress.kafka-clusters]]\nname = "tansu"\nbrokers = ["{broker.bootstrap}"]\n')
        topics = (("svc", 1), ("obj", 2), ("flaky", 1), ("crash-kafka", 2), ("crash-partition", 2), ("bad", 1),
                  ("restart", 2))  # fmt: skip
        for topic, partitions in topics:
            broker.create_topic(topic, partitions)
        with ServiceProcess(root / "logs", "kafka_sinks", env={"SIDE_EFFECT_FILE": str(side_effects)}) as svc:
            env = {"RESTATE_CONFIG": str(config)}
            server: RestateServer = (
                OurRestateServer(root / "data", root / "logs", partitions=2, env=env) if which == "ours"
                else RealRestateServer(root / "data", root / "logs", partitions=2, env=env)
            )  # fmt: skip
            with server:
                server.register(svc.url)
                stack = Stack(which, broker, server, side_effects, {})
                if isinstance(server, OurRestateServer):  # no subscription yet: no kafka process
                    assert not (server.base_dir / "pids" / "kafka.pid").exists()
                # The groups form at the same time (each takes ~20 s on Tansu).
                stack.subs["svc"] = stack.subscribe("svc", "service://KSvc/raw")
                stack.subs["obj"] = stack.subscribe("obj", "service://KObj/add")
                stack.subs["flaky"] = stack.subscribe("flaky", "service://KFlaky/add")
                if which == "real":  # it stalls on a bad key, and a crash of it is a restart of everything
                    yield stack
                    return
                stack.subs["bad"] = stack.subscribe("bad", "service://KObj/add")
                stack.subs["restart"] = stack.subscribe("restart", "service://KObj/add")
                # Offsets never committed before the crash: every record consumed so far comes again after it.
                for topic in ("crash-kafka", "crash-partition"):
                    stack.subs[topic] = stack.subscribe(topic, "service://KObj/add", **{
                        "auto.commit.interval.ms": "600000"})  # fmt: skip
                yield stack


def test_a_service_sink_gets_value_and_the_real_servers_headers(stack: Stack) -> None:
    stack.broker.produce("svc", [(b"k1", b"hello"), (None, b"no key"), (b"", b"")], partition=0,
                         headers=[("traceparent", TRACEPARENT.encode()), ("x-custom", b"v1")])  # fmt: skip
    lines = wait_for(lambda: [x for x in stack.lines() if x["handler"] == "KSvc/raw"], lambda x: len(x) >= 3,
                     "3 invocations of KSvc/raw", GROUP_FORMING_S)  # fmt: skip
    by_offset = {int(x["headers"]["kafka.offset"]): x for x in lines}
    assert sorted(by_offset) == [0, 1, 2] and len(lines) == 3
    first = by_offset[0]
    assert first["body"] == "hello" and first["key"] is None
    headers = first["headers"]
    assert headers["kafka.topic"] == "svc" and headers["kafka.partition"] == "0"
    assert headers["kafka.key"] == "azE="  # base64 (URL-safe, padded) of b"k1"
    assert headers["restate.subscription.id"] == stack.subs["svc"]
    assert int(headers["kafka.timestamp"]) > 1_600_000_000_000
    if stack.which == "ours":
        assert headers["traceparent"] == TRACEPARENT  # the producer's trace continues (the real server drops it)
    else:
        assert "traceparent" not in headers
    assert "x-custom" not in headers  # other record headers are not passed, as the real server does
    assert "kafka.key" not in by_offset[1]["headers"]  # a null key
    assert by_offset[2]["headers"]["kafka.key"] == "" and by_offset[2]["body"] == ""


def test_an_object_sink_gets_every_record_once_in_order_per_key(stack: Stack) -> None:
    records = [(key.encode(), f"{key}-{n}".encode()) for n in range(PER_KEY) for key in KEYS]
    started = time.monotonic()
    stack.broker.produce("obj", records)
    for key in KEYS:
        events = wait_for(lambda key=key: stack.events(key), lambda e: len(e) >= PER_KEY,  # type: ignore[misc]
                          f"{PER_KEY} events of {key}", GROUP_FORMING_S)  # fmt: skip
        assert events == [f"{key}-{n}" for n in range(PER_KEY)], key  # every record once, in production order
    elapsed = time.monotonic() - started
    runs = [x for x in stack.lines() if x["handler"] == "KObj/add"]
    assert len(runs) == len(records)  # one handler run per record: no duplicate invocation
    sub = stack.subs["obj"]
    committed = wait_for(lambda: stack.broker.committed(sub, "obj", 2), lambda c: sum(c) == len(records),
                         "the offsets committed", 30.0)  # fmt: skip
    assert sum(committed) == len(records)
    print(f"1000 records into invocations (incl. group forming) in {elapsed:.1f}s")


# Scenarios of ours alone (the real server stalls on a non-UTF-8 key for ever, and is one process): they take
# only the "ours" stack, the same module-scoped instance as the other tests' "ours" runs (no skipped "real" ids).
ours_only = pytest.mark.parametrize("stack", ["ours"], indirect=True)


def test_a_failing_sink_retries_without_blocking_other_keys(stack: Stack) -> None:
    stack.broker.produce("flaky", [(b"f1", b"fail"), (b"f2", b"ok-1"), (b"f1", b"after"), (b"f2", b"ok-2")])
    # f1's first record fails for ever (retried by the invoker's policy), f2 is a key of its own: it flows
    wait_for(lambda: stack.events_of("KFlaky", "f2"), lambda e: e == ["ok-1", "ok-2"], "the other key's records",
             GROUP_FORMING_S)  # fmt: skip
    attempts = wait_for(lambda: [x for x in stack.lines() if x["handler"] == "KFlaky/add" and x["key"] == "f1"],
                        lambda x: len(x) >= 2, "retries of the failing record", 60.0)  # fmt: skip
    assert {x["body"] for x in attempts} == {"fail"}  # f1's next record waits behind it (its inbox), in order
    assert stack.events_of("KFlaky", "f1") == []


def _records(prefix: str) -> list[tuple[bytes, bytes]]:
    return [(f"{prefix}{key}".encode(), f"{prefix}{key}-{n}".encode()) for n in range(PER_KEY) for key in KEYS]


def _total(stack: Stack, prefix: str) -> int:
    return sum(len(stack.events(f"{prefix}{key}")) for key in KEYS)


def _check_exactly_once(stack: Stack, prefix: str) -> None:
    for key in KEYS:
        events = wait_for(lambda key=key: stack.events(f"{prefix}{key}"), lambda e: len(e) >= PER_KEY,  # type: ignore[misc]
                          f"{PER_KEY} events of {prefix}{key}", GROUP_FORMING_S)  # fmt: skip
        assert events == [f"{prefix}{key}-{n}" for n in range(PER_KEY)], key  # no gap, no double, in order
    time.sleep(1.0)  # a late duplicate would show up now
    assert _total(stack, prefix) == len(KEYS) * PER_KEY


@ours_only
def test_exactly_once_across_a_sigkill_of_the_consuming_process(stack: Stack) -> None:
    records = _records("ck-")
    stack.broker.produce("crash-kafka", records[:500])
    wait_for(lambda: _total(stack, "ck-"), lambda n: n > 0, "the first records consumed", GROUP_FORMING_S)
    old = stack.server.child_pid("kafka")
    os.kill(old, signal.SIGKILL)  # its offsets were never committed: Kafka re-delivers all it had read
    stack.broker.produce("crash-kafka", records[500:])
    wait_for(lambda: stack.server.child_pid("kafka"), lambda pid: pid != old, "the kafka process restarted", 30.0)
    _check_exactly_once(stack, "ck-")
    consumed = stack.consumed(stack.subs["crash-kafka"])
    assert consumed > len(records), f"nothing was re-delivered after the crash ({consumed} records read)"
    print(f"SIGKILL of the consuming process: {len(records)} records produced, {consumed} read, "
          f"{_total(stack, 'ck-')} in the objects' state")


@ours_only
def test_exactly_once_across_sigkills_of_the_partitions_during_consumption(stack: Stack) -> None:
    records = _records("cp-")
    stack.broker.produce("crash-partition", records[:500])
    wait_for(lambda: _total(stack, "cp-"), lambda n: n > 0, "the first records consumed", GROUP_FORMING_S)
    stack.server.kill_partition(0)
    stack.broker.produce("crash-partition", records[500:])
    stack.server.kill_partition(1)
    _check_exactly_once(stack, "cp-")


@ours_only
def test_a_record_whose_key_is_not_utf8_is_parked_and_the_records_behind_it_flow(stack: Stack) -> None:
    sub = stack.subs["bad"]
    stack.broker.produce("bad", [(b"pk", b"first"), (b"\xff\xfe", b"poison"), (b"pk", b"second")])
    # The real server stalls this Kafka partition for ever on offset 1; ours parks it and goes on.
    wait_for(lambda: stack.events("pk"), lambda e: e == ["first", "second"], "the records around the bad one",
             GROUP_FORMING_S)  # fmt: skip
    parked = wait_for(lambda: stack.parked(sub), lambda p: len(p) == 1, "the parked record", 30.0)
    assert (parked[0]["partition"], parked[0]["offset"], parked[0]["key_base64"]) == (0, 1, "//4=")
    assert parked[0]["reason"].startswith("The Kafka record key must be valid UTF-8")
    assert stack.metric("restate_kafka_parked_records", sub) == 1
    assert stack.metric("restate_kafka_records_parked_total", sub) == 1
    cli = [str(OUR_RESTATE_BIN), "--admin-url", stack.server.admin_url, "subscriptions"]
    listed = subprocess.run([*cli, "parked", sub], capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0 and "//4=" in listed.stdout, listed.stdout + listed.stderr
    # The operator replays it under a key of their choice: one invocation, and it is no longer parked.
    replayed = subprocess.run([*cli, "replay", sub, "0", "1", "--key", "fixed"], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
    assert replayed.returncode == 0 and "Replayed partition 0 offset 1 as inv_1" in replayed.stdout, replayed.stderr
    wait_for(lambda: stack.events("fixed"), lambda e: e == ["poison"], "the replayed record", 30.0)
    assert stack.parked(sub) == [] and stack.metric("restate_kafka_parked_records", sub) == 0
    # Another one is dropped: it never becomes an invocation.
    stack.broker.produce("bad", [(b"\xc3", b"dropped"), (b"pk", b"third")])
    wait_for(lambda: stack.parked(sub), lambda p: len(p) == 1, "the second parked record", 30.0)
    dropped = subprocess.run([*cli, "drop", sub, "0", "3"], capture_output=True, text=True, timeout=60, check=False)
    assert dropped.returncode == 0, dropped.stderr
    assert stack.parked(sub) == [] and stack.events("pk") == ["first", "second", "third"]


@ours_only
def test_a_subscription_survives_a_restart_and_records_produced_meanwhile_arrive_once(stack: Stack) -> None:
    # last in the module: it restarts the server
    stack.broker.produce("restart", [(b"rs", f"before-{n}".encode()) for n in range(10)])
    wait_for(lambda: stack.events("rs"), lambda e: len(e) == 10, "the records before the restart", GROUP_FORMING_S)
    stack.server.stop()
    stack.broker.produce("restart", [(b"rs", f"during-{n}".encode()) for n in range(10)])
    stack.server.start()
    expected = [f"before-{n}" for n in range(10)] + [f"during-{n}" for n in range(10)]
    events = wait_for(lambda: stack.events("rs"), lambda e: len(e) >= 20, "the records produced while down",
                      GROUP_FORMING_S)  # fmt: skip
    time.sleep(1.0)  # a late duplicate would show up now
    assert stack.events("rs") == events == expected
