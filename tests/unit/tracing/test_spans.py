"""The span model: names, parents, attributes, events and statuses as the real server's (and ours' extras)."""

from __future__ import annotations

from restate import ids
from restate.protocol import pb
from restate.protocol.framing import MessageType
from restate.tracing import spans
from restate.tracing import trace_context as tc
from restate.wire import Target, TraceContext

INV = ids.InvocationId.parse("inv_1kttpiSP7bH50Bkil0qkS9pwkTnmbHfA8q").to_bytes()
CTX = TraceContext(bytes(range(16)), bytes(range(8)), "vendor=abc")


def _inv(key: str | None = None) -> spans.Invocation:
    return spans.invocation(INV, Target("TObj" if key else "TGreeter", "inc" if key else "greet", key))


def test_objects_show_the_literal_key_in_names_and_the_real_one_in_the_target() -> None:
    inv = _inv("k1")
    assert inv.span_target == "TObj/{key}/inc"
    assert inv.attributes() == {"rpc.service": "TObj", "rpc.method": "inc",
                                "restate.invocation.id": "inv_1kttpiSP7bH50Bkil0qkS9pwkTnmbHfA8q",
                                "restate.invocation.target": "TObj/k1/inc"}  # fmt: skip


def test_the_ingress_span_is_the_child_of_the_clients_span_and_the_parent_of_the_start_span() -> None:
    span = spans.ingress_span(_inv(), CTX, b"\x01" * 8, ("127.0.0.1", 5000), 7)
    assert (span.name, span.span_id, span.parent_id, span.parent_remote) == (
        "ingress TGreeter/greet", CTX.parent_span_id, b"\x01" * 8, True)  # fmt: skip
    assert list(span.attributes)[-2:] == ["client.socket.address", "client.socket.port"]
    assert span.start_ns == span.end_ns == 7


def test_the_start_span_runs_from_creation_and_carries_the_link_of_a_send() -> None:
    linked = TraceContext(INV[-16:], None, "", bytes(16), b"\x02" * 8)
    span = spans.start_span(_inv(), linked, 1_000, 1_000_000_500)
    assert (span.span_id, span.parent_id) == (tc.start_span_id(INV), None)
    assert (span.start_ns, span.end_ns) == (1_000_000_000, 1_000_000_500)
    assert [(lk.trace_id, lk.span_id, lk.attributes) for lk in span.links] == [
        (bytes(16), b"\x02" * 8, {"restate.runtime": True})]  # fmt: skip


def test_the_end_span_of_a_failure() -> None:
    span = spans.end_span(_inv(), CTX, (409, "boom"), 9)
    assert span.parent_id == tc.start_span_id(INV) and (span.status, span.status_message) == ("error", "boom")
    assert list(span.attributes.items())[4:] == [("restate.invocation.result", "failure"), ("error.message", "boom"),
                                                 ("restate.invocation.error.code", "409 Aborted")]  # fmt: skip
    assert spans.end_span(_inv(), CTX, None, 9).attributes["restate.invocation.result"] == "success"


def test_an_attempt_records_the_sdks_commands_and_run_results() -> None:
    attempt = spans.AttemptSpan(_inv(), CTX, 2, "dp_1", "http://127.0.0.1:9080/", 6)
    run = pb.RunCommandMessage(result_completion_id=1, name="step-one")
    attempt.message(MessageType.RUN, run.SerializeToString())
    attempt.message(MessageType.PROPOSE_RUN_COMPLETION,
                    pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"1").SerializeToString())  # fmt: skip
    sleep = pb.SleepCommandMessage(wake_up_time=1, result_completion_id=2)
    attempt.message(MessageType.SLEEP, sleep.SerializeToString())
    attempt.message(MessageType.OUTPUT, b"")
    span = attempt.finish("ended")
    assert (span.name, span.span_id, span.parent_id) == (
        "invocation-attempt TGreeter/greet", tc.attempt_span_id(INV, 2), tc.start_span_id(INV))  # fmt: skip
    assert [(e.name.rsplit(".", 1)[1], e.attributes) for e in span.events] == [
        ("new_command", {"restate.journal.command.type": "Command/Run", "restate.journal.command.name": "step-one"}),
        ("run_ended", {"restate.journal.notification.id": "CompletionId: 1", "restate.run.result": "success",
                       "restate.run.duration_ms": span.events[1].attributes["restate.run.duration_ms"]}),
        ("new_command", {"restate.journal.command.type": "Command/Sleep"}),
        ("new_command", {"restate.journal.command.type": "Command/Output"}),
    ]  # fmt: skip
    assert span.status == "ok" and span.attributes["restate.attempt.end"] == "ended"
    assert span.attributes["restate.attempt.number"] == 2


def test_a_failed_attempt_is_a_transient_failure_with_its_error() -> None:
    span = spans.AttemptSpan(_inv(), CTX, 1, "dp_1", "http://x/", 6).finish("failed", "[500] boom")
    assert (span.status, span.status_message) == ("error", "transient failure")
    assert span.attributes["error.message"] == "[500] boom" and span.events == []


def test_a_suspended_attempt_has_the_suspended_event_and_no_status() -> None:
    span = spans.AttemptSpan(_inv(), CTX, 1, "dp_1", "http://x/", 6).finish("suspended")
    assert span.status == "unset" and [e.name for e in span.events] == ["restate.invocation.lifecycle.suspended"]
