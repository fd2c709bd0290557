"""The state machine keeps an invocation's trace context, hands it to what the invocation calls or sends,
and asks for its invocation-start and invocation-end spans; an untraced invocation costs nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from restate.partition.actions import TraceEnded, TraceStarted
from restate.partition.commands import InvokeCmd
from restate.protocol import pb
from restate.tracing import trace_context as tc
from restate.wire import InvocationRequest, TraceContext
from tests.unit.partition.harness import GREETER, Partition, of_type, request, sink

TRACE = TraceContext(bytes(range(16)), bytes(range(8)), "vendor=abc")


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Partition]:
    partition = Partition(tmp_path / "p")
    yield partition
    partition.close()


def _traced() -> InvocationRequest:
    return msgspec.structs.replace(request(GREETER, b'"x"'), trace=TRACE)


def test_a_traced_invocation_asks_for_its_start_span_once_and_its_end_span(p: Partition) -> None:
    req = _traced()
    actions = p.apply(InvokeCmd(req, sink(1)))
    started = of_type(actions, TraceStarted)
    assert started == [TraceStarted(req.invocation_id, GREETER, p.now, TRACE)]
    assert p.record(req.invocation_id).trace is not None
    actions = p.finish(req.invocation_id, b'"ok"')
    assert of_type(actions, TraceEnded) == [TraceEnded(req.invocation_id, GREETER, TRACE, None)]
    assert of_type(actions, TraceStarted) == []


def test_an_untraced_invocation_asks_for_no_span(p: Partition) -> None:
    req = request(GREETER, b'"x"')
    actions = p.apply(InvokeCmd(req, sink(1))) + p.finish(req.invocation_id, b'"ok"')
    assert of_type(actions, TraceStarted) == of_type(actions, TraceEnded) == []
    assert p.record(req.invocation_id).trace is None


def test_calls_and_sends_carry_the_trace_on(p: Partition) -> None:
    req = _traced()
    p.apply(InvokeCmd(req, sink(1)))
    attempt = p.attempt(req.invocation_id)
    call = pb.CallCommandMessage(service_name="Greeter", handler_name="greet", parameter=b"1",
                                 invocation_id_notification_idx=1, result_completion_id=2)  # fmt: skip
    send = pb.OneWayCallCommandMessage(service_name="Greeter", handler_name="greet", parameter=b"2",
                                       invocation_id_notification_idx=3)  # fmt: skip
    p.sdk(req.invocation_id, call)
    p.sdk(req.invocation_id, send)
    traces = sorted(_child_traces(p, req.invocation_id), key=lambda t: t.parent_span_id is None)
    assert len(traces) == 2
    called, sent = traces
    assert called.trace_id == TRACE.trace_id
    assert called.parent_span_id == tc.attempt_span_id(req.invocation_id, attempt)
    assert sent.parent_span_id is None and sent.link_trace_id == TRACE.trace_id
    assert sent.link_span_id == tc.attempt_span_id(req.invocation_id, attempt)


def _child_traces(p: Partition, parent: bytes) -> list[TraceContext]:
    """The trace contexts of what `parent` created: on this partition, or in the outbox for another."""
    found = []
    for inv, _ in p.view.live():
        record = p.record(inv)
        if record.caller_id == parent and record.trace is not None:
            t = record.trace
            found.append(TraceContext(t.trace_id, t.parent_span_id, t.trace_state, t.link_trace_id, t.link_span_id))
    found += [m.trace for _, _, m in p.outbox() if isinstance(m, InvocationRequest) and m.trace is not None]
    return found
