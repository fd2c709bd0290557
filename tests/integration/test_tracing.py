"""OpenTelemetry tracing against an OTLP receiver (tests/support/otlp.py), for our server and the real one:
the same scenarios give the same span trees (names, parents, events), attributes and propagation."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka_broker import TansuBroker
from tests.support.net import free_port
from tests.support.otlp import OtlpReceiver, Span, shape, trace_of
from tests.support.paths import OUR_RESTATE_BIN
from tests.support.servers import OurRestateServer, RealRestateServer, RestateServer
from tests.support.services import ServiceProcess

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
INVOCATION_ATTRS = ["rpc.service", "rpc.method", "restate.invocation.id", "restate.invocation.target"]
ATTEMPT_ATTRS = ["rpc.system", *INVOCATION_ATTRS, "restate.deployment.id", "restate.deployment.address",
                 "restate.deployment.service_protocol_version"]  # fmt: skip
OURS_ATTEMPT_ATTRS = ["restate.attempt.number", "restate.attempt.end"]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver().start()
    yield r
    r.stop()


def _start(kind: str, transport: str, receiver: OtlpReceiver, tmp_path: Path, partitions: int = 2) -> RestateServer:
    endpoint = receiver.http_endpoint if transport == "http" else receiver.grpc_endpoint
    env = {"RESTATE_TRACING_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    cls = OurRestateServer if kind == "ours" else RealRestateServer
    return cls(tmp_path / f"{kind}-data", tmp_path, partitions=partitions, env=env).start()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(tmp_path, module="traced", env={"GATE_FILE": str(tmp_path / "gate")}).start()
    yield svc
    svc.stop()


def _span(spans: list[Span], trace_id: str, name: str) -> Span:
    found = [s for s in spans if s["trace_id"] == trace_id and s["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def _all_there(spans: list[Span], expected: Counter[str]) -> bool:
    """Every expected span came (each process exports its own, in its own time)."""
    return not expected - Counter(s["name"] for s in spans)


def _invocation(target: str, ingress: bool = True) -> Counter[str]:
    kinds = ("ingress", "invocation-start", "invocation-attempt", "invocation-end")
    return Counter(f"{k} {target}" for k in kinds if ingress or k != "ingress")


EXPECTED = (
    _invocation("TSteps/steps3") + _invocation("TCaller/call") + _invocation("TGreeter/greet", False)
    + _invocation("TGreeter/greet", False)
    + _invocation("TFlow/{key}/run") + _invocation("TFlow/{key}/approve") + _invocation("TGreeter/trace_headers")
)  # fmt: skip


def steps_tree() -> list[Any]:
    run = "new_command:Command/Run"
    events = [f"{run}(step-one)", "run_ended:CompletionId: 1", "new_command:Command/Sleep", f"{run}(step-two)",
              "run_ended:CompletionId: 3", f"{run}(step-three)", "run_ended:CompletionId: 4",
              "new_command:Command/Output"]  # fmt: skip
    return [["ingress TSteps/steps3", [], [["invocation-start TSteps/steps3", [], [
        ["invocation-attempt TSteps/steps3", events, []],
        ["invocation-end TSteps/steps3", [], []],
    ]]]]]  # fmt: skip


def _greet(parent: str | None) -> list[Any]:
    inner = [["invocation-attempt TGreeter/greet", ["new_command:Command/Output"], []],
             ["invocation-end TGreeter/greet", [], []]]  # fmt: skip
    return ["invocation-start TGreeter/greet", [], inner]


def call_tree() -> list[Any]:
    attempt = ["invocation-attempt TCaller/call",
               ["new_command:Command/Call", "new_command:Command/OneWayCall", "new_command:Command/Output"],
               [_greet("attempt")]]  # fmt: skip
    return [["ingress TCaller/call", [], [["invocation-start TCaller/call", [], sorted(
        [attempt, ["invocation-end TCaller/call", [], []]], key=repr)]]]]  # fmt: skip


@pytest.mark.parametrize(("kind", "transport"), [("ours", "http"), ("ours", "grpc"), ("real", "http")])
def test_span_trees_match_the_real_servers(kind: str, transport: str, receiver: OtlpReceiver,
                                            service: ServiceProcess, tmp_path: Path) -> None:  # fmt: skip
    server = _start(kind, transport, receiver, tmp_path)
    try:
        server.register(service.url)
        assert server.call("TSteps/steps3", 1).json() == 4
        assert server.call("TCaller/call", "Ann").json() == "Hello Ann!"
        assert server.send("TFlow/k1/run", "Bob").status_code == 202
        assert server.call("TFlow/k1/approve", "yes").status_code == 200
        assert server.call("restate/workflow/TFlow/k1/attach", method="GET").json() == "Bob: yes"
        traced = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "tracestate": "vendor=abc"}
        seen = server.call("TGreeter/trace_headers", headers=traced).json()
        spans = receiver.wait_for(lambda s: _all_there(s, EXPECTED))
    finally:
        server.stop()

    # 3 ctx.run steps and a sleep: one attempt, the commands as events
    assert shape(spans, trace_of(spans, "ingress TSteps/steps3")) == steps_tree()

    _check_call_and_send(spans)
    _check_workflow(spans)
    _check_client_context(spans, seen)
    _check_attributes(spans, service, transport, kind)


def _check_call_and_send(spans: list[Span]) -> None:
    """A call continues the trace under the caller's attempt; the one-way send starts a linked trace."""
    call_trace = trace_of(spans, "ingress TCaller/call")
    assert shape(spans, call_trace) == call_tree()
    caller_attempt = _span(spans, call_trace, "invocation-attempt TCaller/call")
    linked = [s for s in spans if s["name"] == "invocation-start TGreeter/greet" and s["trace_id"] != call_trace]
    assert len(linked) == 1 and linked[0]["parent_span_id"] == ""
    assert linked[0]["links"] == [(call_trace, caller_attempt["span_id"], {"restate.runtime": True})]
    assert shape(spans, linked[0]["trace_id"]) == [_greet(None)]
    inv_uuid_tail = linked[0]["span_id"]  # the start span id is the tail of the invocation's UUID
    assert linked[0]["trace_id"].endswith(inv_uuid_tail)



def _check_workflow(spans: list[Span]) -> None:
    """A workflow and its promise: two traces, one per ingress request."""
    run_trace = trace_of(spans, "ingress TFlow/{key}/run")
    run_start = _span(spans, run_trace, "invocation-start TFlow/{key}/run")
    assert run_start["attributes"]["restate.invocation.target"] == "TFlow/k1/run"
    assert shape(spans, run_trace) == [["ingress TFlow/{key}/run", [], [["invocation-start TFlow/{key}/run", [], [
        ["invocation-attempt TFlow/{key}/run", ["new_command:Command/GetPromise", "new_command:Command/Output"], []],
        ["invocation-end TFlow/{key}/run", [], []]]]]]]  # fmt: skip
    approve_trace = trace_of(spans, "ingress TFlow/{key}/approve")
    assert shape(spans, approve_trace)[0][2][0][2][0] == [
        "invocation-attempt TFlow/{key}/approve",
        ["new_command:Command/CompletePromise", "new_command:Command/Output"], []]  # fmt: skip



def _check_client_context(spans: list[Span], seen: dict[str, str]) -> None:
    """A client's traceparent: its span is the root's (remote) parent, its tracestate on every span."""
    client = [s for s in spans if s["trace_id"] == CLIENT_TRACE]
    assert sorted(s["name"] for s in client) == sorted(
        f"{n} TGreeter/trace_headers" for n in ("ingress", "invocation-start", "invocation-attempt", "invocation-end")
    )
    ingress = _span(spans, CLIENT_TRACE, "ingress TGreeter/trace_headers")
    assert ingress["parent_span_id"] == CLIENT_SPAN
    # OTLP span flags: "has is-remote", and is-remote for the client's parent; the real server also sets the
    # sampled bit (0x301, 0x101), OpenTelemetry Python's encoder does not (README)
    assert ingress["flags"] | 1 == 0x301 and {s["flags"] | 1 for s in client if s is not ingress} == {0x101}
    assert {s["trace_state"] for s in client} == {"vendor=abc"}
    attempt = _span(spans, CLIENT_TRACE, "invocation-attempt TGreeter/trace_headers")
    assert seen == {"traceparent": f"00-{CLIENT_TRACE}-{attempt['span_id']}-01", "tracestate": "vendor=abc"}



def _check_attributes(spans: list[Span], service: ServiceProcess, transport: str, kind: str) -> None:
    """Attributes, statuses, resource and scope as the real server's (ours adds a few, README)."""
    steps_trace = trace_of(spans, "ingress TSteps/steps3")
    s_ingress = _span(spans, steps_trace, "ingress TSteps/steps3")
    assert list(s_ingress["attributes"]) == [*INVOCATION_ATTRS, "client.socket.address", "client.socket.port"]
    assert s_ingress["attributes"]["client.socket.address"] == "127.0.0.1"
    s_attempt = _span(spans, steps_trace, "invocation-attempt TSteps/steps3")
    assert list(s_attempt["attributes"]) == ATTEMPT_ATTRS + (OURS_ATTEMPT_ATTRS if kind == "ours" else [])
    if kind == "ours":
        assert [s_attempt["attributes"][k] for k in OURS_ATTEMPT_ATTRS] == [1, "ended"]
        run_ended = [attrs for name, attrs in s_attempt["events"] if name.endswith("run_ended")]
        assert [a["restate.run.result"] for a in run_ended] == ["success"] * 3
        assert all(a["restate.run.duration_ms"] >= 0 for a in run_ended)
    assert s_attempt["attributes"]["restate.deployment.address"] == service.url
    assert s_attempt["status"] == "STATUS_CODE_OK"
    s_end = _span(spans, steps_trace, "invocation-end TSteps/steps3")
    assert list(s_end["attributes"]) == [*INVOCATION_ATTRS, "restate.invocation.result"]
    assert s_end["attributes"]["restate.invocation.result"] == "success"
    assert {s["resource"]["service.name"] for s in spans} == {"Restate"}
    assert {s["scope"] for s in spans} == {"services"}
    assert {s["transport"] for s in spans} == {transport}


def test_one_trace_survives_a_sigkill_of_the_partition(receiver: OtlpReceiver, service: ServiceProcess,
                                                       tmp_path: Path) -> None:  # fmt: skip
    server = _start("ours", "grpc", receiver, tmp_path, partitions=1)
    assert isinstance(server, OurRestateServer)
    try:
        server.register(service.url)
        accepted = server.send("TGated/run_gated", 1)
        assert accepted.status_code == 202, accepted.text
        inv = accepted.json()["invocationId"]
        receiver.wait_for(_ended_span("invocation-start TGated/run_gated"))  # the first attempt runs
        server.kill_partition(0)  # mid-invocation: its attempt waits for the gate
        (tmp_path / "gate").touch()
        assert server.call(f"restate/invocation/{inv}/attach", method="GET").json() == 3
        spans = receiver.wait_for(_ended_span("invocation-end TGated/run_gated"))
        rows = server.client.post(f"{server.admin_url}/query", headers={"accept": "application/json"}, json={
            "query": f"SELECT trace_id FROM sys_invocation WHERE id = '{inv}'"}).json()["rows"]  # fmt: skip
    finally:
        server.stop()
    trace = trace_of(spans, "invocation-end TGated/run_gated")
    assert rows == [{"trace_id": trace}]
    names = sorted(s["name"] for s in spans if s["trace_id"] == trace)
    assert names == sorted(f"{n} TGated/run_gated" for n in ("ingress", "invocation-start", "invocation-attempt",
                                                              "invocation-end"))  # fmt: skip
    assert shape(spans, trace) == [["ingress TGated/run_gated", [], [["invocation-start TGated/run_gated", [], [
        ["invocation-attempt TGated/run_gated", shape(spans, trace)[0][2][0][2][0][1], []],
        ["invocation-end TGated/run_gated", [], []]]]]]]  # fmt: skip
    attempt = _span(spans, trace, "invocation-attempt TGated/run_gated")
    assert attempt["attributes"]["restate.invocation.id"] == inv
    assert "new_command:Command/Output" in [e for e in shape(spans, trace)[0][2][0][2][0][1]]


def _ended_span(name: str) -> Any:
    return lambda spans: any(s["name"] == name for s in spans)


@pytest.mark.parametrize("kind", ["ours", "real"])
def test_a_retry_and_a_terminal_failure_as_the_real_server(
    kind: str, receiver: OtlpReceiver, service: ServiceProcess, tmp_path: Path
) -> None:
    server = _start(kind, "http", receiver, tmp_path)
    try:
        server.register(service.url)
        assert server.call("TFlaky/once", 7).json() == 7
        assert server.call("TFlaky/fail").status_code == 409
        spans = receiver.wait_for(lambda s: _all_there(s, _invocation("TFlaky/fail") + _invocation("TFlaky/once")
                                                       + Counter(["invocation-attempt TFlaky/once"])))  # fmt: skip
    finally:
        server.stop()
    once = trace_of(spans, "ingress TFlaky/once")
    assert shape(spans, once) == [["ingress TFlaky/once", [], [["invocation-start TFlaky/once", [], [
        ["invocation-attempt TFlaky/once", ["new_command:Command/Output"], []],
        ["invocation-attempt TFlaky/once", [], []],
        ["invocation-end TFlaky/once", [], []]]]]]]  # fmt: skip
    attempts = [s for s in spans if s["trace_id"] == once and s["name"] == "invocation-attempt TFlaky/once"]
    failed = [s for s in attempts if not s["events"]]
    assert [(s["status"], s["status_message"]) for s in failed] == [("STATUS_CODE_ERROR", "transient failure")]
    if kind == "ours":  # which failure, how the attempt ended
        assert "the first attempt fails" in failed[0]["attributes"]["error.message"]
        assert failed[0]["attributes"]["restate.attempt.end"] == "failed"
    fail = trace_of(spans, "ingress TFlaky/fail")
    end = _span(spans, fail, "invocation-end TFlaky/fail")
    assert (end["status"], end["status_message"]) == ("STATUS_CODE_ERROR", "boom")
    failure = list(end["attributes"].items())[4:]
    assert failure == [("restate.invocation.result", "failure"), ("error.message", "boom"),
                       ("restate.invocation.error.code", "409 Aborted")]  # fmt: skip
    attempt = _span(spans, fail, "invocation-attempt TFlaky/fail")
    assert attempt["status"] == "STATUS_CODE_OK"  # a TerminalError ends the attempt normally
    if kind == "ours":  # the log line about the failed attempt names the invocation and its trace
        inv = attempts[0]["attributes"]["restate.invocation.id"]
        logs = [ln for p in tmp_path.glob("ours-*.log") for ln in p.read_text().splitlines()]
        lines = [ln for ln in logs if "attempt 1 failed" in ln]
        assert [ln for ln in lines if f"invocation {inv} trace {once}:" in ln], lines


def test_our_sdks_spans_join_the_servers_trace(receiver: OtlpReceiver, tmp_path: Path) -> None:
    """Opt-in SDK spans (restate.app(..., tracer=...)): the handler's span is a child of the attempt span
    the server sent in `traceparent`, each executed ctx.run a child of the handler's span."""
    svc = ServiceProcess(tmp_path, module="traced", name="svc-ours-traced",
                         env={"SDK_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}/v1/traces"})  # fmt: skip
    svc.process.argv[0] = str(OUR_RESTATE_BIN.parent / "hypercorn")  # our venv: `import restate` is our SDK
    svc.start()
    server = _start("ours", "http", receiver, tmp_path)
    try:
        server.register(svc.url)
        assert server.call("TSteps/steps3", 1).json() == 4
        runs = Counter(f"ctx.run step-{n}" for n in ("one", "two", "three"))
        spans = receiver.wait_for(lambda s: _all_there(s, runs + _invocation("TSteps/steps3")))
    finally:
        server.stop()
        svc.stop()
    by_id = {s["span_id"]: s for s in spans}
    for name in runs:
        (run,) = [s for s in spans if s["name"] == name]
        handler = by_id[run["parent_span_id"]]
        assert handler["name"] == "TSteps/steps3" and handler["resource"]["service.name"] == "traced-app"
        attempt = by_id[handler["parent_span_id"]]
        assert attempt["name"] == "invocation-attempt TSteps/steps3"
        assert run["trace_id"] == handler["trace_id"] == attempt["trace_id"]
        assert run["attributes"]["restate.run.name"] == name.removeprefix("ctx.run ")


@pytest.mark.parametrize("kind", ["ours", "real"])
def test_tracing_off_keeps_only_a_clients_trace_id(kind: str, service: ServiceProcess, tmp_path: Path) -> None:
    """Without an endpoint nothing is exported and no traceparent goes to the deployment, but a client's
    sampled trace id is still the invocation's (sys_invocation.trace_id), as on the real server."""
    cls = OurRestateServer if kind == "ours" else RealRestateServer
    server = cls(tmp_path / f"{kind}-data", tmp_path, partitions=2).start()
    traced = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "tracestate": "vendor=abc"}
    try:
        server.register(service.url)
        assert server.call("TGreeter/trace_headers", headers=traced).json() == {}
        assert server.call("TGreeter/trace_headers").json() == {}
        unsampled = {"traceparent": f"00-{CLIENT_TRACE[::-1]}-{CLIENT_SPAN}-00"}
        assert server.call("TGreeter/trace_headers", headers=unsampled).json() == {}
        rows = server.client.post(f"{server.admin_url}/query", headers={"accept": "application/json"}, json={
            "query": "SELECT trace_id FROM sys_invocation ORDER BY trace_id"}).json()["rows"]  # fmt: skip
    finally:
        server.stop()
    assert sorted(row.get("trace_id") or "" for row in rows) == ["", "", CLIENT_TRACE]


def test_a_collector_that_is_down_costs_the_server_nothing_but_warnings(service: ServiceProcess,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    """Invocations run as usual, and a graceful stop, which flushes the spans still queued, does not wait
    for the exporter's retries (10 s)."""
    closed = free_port()
    env = {"RESTATE_TRACING_ENDPOINT": f"http://127.0.0.1:{closed}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    server = OurRestateServer(tmp_path / "data", tmp_path, partitions=1, env=env).start()
    try:
        server.register(service.url)
        for n in range(3):
            assert server.call("TSteps/steps3", n).json() == n + 3
    finally:
        t0 = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - t0
    assert stopped_in < 8, f"the stop took {stopped_in:.1f}s"


@pytest.mark.parametrize("kind", ["ours", "real"])
def test_a_kafka_record_gets_an_ingress_kafka_span(kind: str, receiver: OtlpReceiver, service: ServiceProcess,
                                                   tmp_path: Path) -> None:  # fmt: skip
    """A record of a subscription: an `ingress_kafka {target}` root span with the messaging.* attributes,
    the invocation under it (Tansu forms the consumer group in about 20 s)."""
    with TansuBroker(tmp_path / "broker") as broker:
        broker.create_topic("ttrace", 1)
        config = tmp_path / "restate.toml"
        config.write_text(f'[[ingress.kafka-clusters]]\nname = "tansu"\nbrokers = ["{broker.bootstrap}"]\n')
        env = {"RESTATE_TRACING_ENDPOINT": receiver.http_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
               "RESTATE_CONFIG": str(config)}  # fmt: skip
        cls = OurRestateServer if kind == "ours" else RealRestateServer
        server = cls(tmp_path / "data", tmp_path, partitions=2, env=env).start()
        try:
            server.register(service.url)
            options = {"auto.offset.reset": "earliest", "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
            body = {"source": "kafka://tansu/ttrace", "sink": "service://TGreeter/greet", "options": options}
            resp = server.client.post(f"{server.admin_url}/subscriptions", json=body)
            assert resp.status_code == 201, resp.text
            broker.produce("ttrace", [(None, b'"kafka"')])
            traced = [("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01".encode())]
            broker.produce("ttrace", [(None, b'"traced"')], headers=traced)
            one = Counter(["ingress_kafka TGreeter/greet"]) + _invocation("TGreeter/greet", ingress=False)
            spans = receiver.wait_for(lambda s: _all_there(s, one + one), timeout_s=150)
        finally:
            server.stop()
    roots = [s for s in spans if s["name"] == "ingress_kafka TGreeter/greet"]
    by_offset = {s["attributes"]["messaging.kafka.offset"]: s for s in roots}
    producer = by_offset[1]  # the record with a traceparent: ours continues the producer's trace, the real one not
    if kind == "ours":
        assert (producer["trace_id"], producer["parent_span_id"]) == (CLIENT_TRACE, CLIENT_SPAN)
    else:
        assert producer["trace_id"] != CLIENT_TRACE and producer["parent_span_id"] == ""
    assert shape(spans, producer["trace_id"]) == [["ingress_kafka TGreeter/greet", [], [_greet(None)]]]
    trace = by_offset[0]["trace_id"]
    assert shape(spans, trace) == [["ingress_kafka TGreeter/greet", [], [_greet(None)]]]
    root = _span(spans, trace, "ingress_kafka TGreeter/greet")
    assert root["parent_span_id"] == ""
    assert list(root["attributes"])[4:] == [
        "messaging.system", "messaging.consumer.group.name", "messaging.operation.type", "messaging.kafka.offset",
        "messaging.source.partition.id", "messaging.source.name"]  # fmt: skip
    assert [root["attributes"][k] for k in ("messaging.system", "messaging.operation.type", "messaging.kafka.offset",
                                            "messaging.source.partition.id", "messaging.source.name")] == [
        "kafka", "process", 0, 0, "ttrace"]  # fmt: skip
    assert root["attributes"]["messaging.consumer.group.name"] == resp.json()["id"]


@pytest.mark.parametrize("kind", ["ours", "real"])
def test_a_suspension_ends_an_attempt_and_the_resumption_is_the_next_one(
    kind: str, receiver: OtlpReceiver, service: ServiceProcess, tmp_path: Path
) -> None:
    server = _start(kind, "http", receiver, tmp_path)
    try:
        server.register(service.url)
        patched = server.client.patch(f"{server.admin_url}/services/TSleepy", json={"inactivity_timeout": "100ms"})
        assert patched.status_code == 200, patched.text
        assert server.call("TSleepy/nap", 1500).json() == "rested"
        spans = receiver.wait_for(lambda s: _all_there(s, _invocation("TSleepy/nap")
                                                       + Counter(["invocation-attempt TSleepy/nap"])))  # fmt: skip
    finally:
        server.stop()
    trace = trace_of(spans, "ingress TSleepy/nap")
    assert shape(spans, trace) == [["ingress TSleepy/nap", [], [["invocation-start TSleepy/nap", [], [
        ["invocation-attempt TSleepy/nap", ["new_command:Command/Output"], []],  # resumed: the sleep is replayed
        ["invocation-attempt TSleepy/nap", ["new_command:Command/Sleep", "suspended:"], []],  # suspended
        ["invocation-end TSleepy/nap", [], []]]]]]]  # fmt: skip
    attempts = [s for s in spans if s["trace_id"] == trace and s["name"] == "invocation-attempt TSleepy/nap"]
    assert sorted(s["status"] for s in attempts) == ["STATUS_CODE_OK", "STATUS_CODE_UNSET"]  # the suspended one
    if kind == "ours":
        ends = sorted((s["attributes"]["restate.attempt.number"], s["attributes"]["restate.attempt.end"])
                      for s in attempts)  # fmt: skip
        assert ends == [(1, "suspended"), (2, "ended")]
