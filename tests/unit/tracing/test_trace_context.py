"""W3C trace context: traceparent parsing, derived span ids, the contexts of calls and sends."""

from __future__ import annotations

import pytest

from restate import ids
from restate.tracing import trace_context as tc
from restate.wire import TraceContext

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_sampled_traceparent_is_the_clients_context() -> None:
    found = tc.parse_traceparent(f"00-{TRACE}-{SPAN}-01", "vendor=abc")
    assert found == tc.ClientContext(bytes.fromhex(TRACE), bytes.fromhex(SPAN), "vendor=abc")


def test_an_unsampled_traceparent_means_not_traced() -> None:
    assert tc.parse_traceparent(f"00-{TRACE}-{SPAN}-00") is False


@pytest.mark.parametrize(
    "value",
    [
        None, "", "garbage", f"00-{TRACE}-{SPAN}", f"00-{TRACE.upper()}-{SPAN}-01", f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01", f"ff-{TRACE}-{SPAN}-01", f"00-{TRACE}-{SPAN}-01-extra",
        f"00-{TRACE[:-1]}-{SPAN}-01", f"00-{TRACE}-{SPAN}-zz",
    ],
)  # fmt: skip
def test_a_malformed_traceparent_is_ignored(value: str | None) -> None:
    assert tc.parse_traceparent(value) is None


def test_a_future_version_may_carry_more_fields() -> None:
    expected = tc.ClientContext(bytes.fromhex(TRACE), bytes.fromhex(SPAN))
    assert tc.parse_traceparent(f"01-{TRACE}-{SPAN}-01-more") == expected


def test_the_start_span_is_the_tail_of_the_invocation_uuid_as_on_the_real_server() -> None:
    raw = ids.InvocationId.parse("inv_1kttpiSP7bH50Bkil0qkS9pwkTnmbHfA8q").to_bytes()  # README of the reference
    assert tc.start_span_id(raw).hex() == "1896ac5b2517c813"


def test_attempt_span_ids_differ_per_attempt_and_are_stable() -> None:
    raw = ids.InvocationId.new().to_bytes()
    assert tc.attempt_span_id(raw, 1) == tc.attempt_span_id(raw, 1)
    assert len({tc.attempt_span_id(raw, n) for n in range(1, 50)}) == 49


def test_a_call_continues_the_trace_under_the_calling_attempt() -> None:
    caller = ids.InvocationId.new().to_bytes()
    own = TraceContext(bytes(range(16)), bytes(8), "v=1")
    assert tc.for_call(own, caller, 3) == TraceContext(bytes(range(16)), tc.attempt_span_id(caller, 3), "v=1")


def test_a_send_starts_a_linked_trace_named_after_the_callee() -> None:
    caller, callee = ids.InvocationId.new().to_bytes(), ids.InvocationId.new().to_bytes()
    own = TraceContext(bytes(range(16)), bytes(8))
    linked = tc.for_send(own, caller, 2, callee)
    assert linked.trace_id == callee[-16:] and linked.parent_span_id is None
    assert (linked.link_trace_id, linked.link_span_id) == (own.trace_id, tc.attempt_span_id(caller, 2))


def test_the_traceparent_header_names_the_span() -> None:
    assert tc.traceparent(bytes.fromhex(TRACE), bytes.fromhex(SPAN)) == f"00-{TRACE}-{SPAN}-01"
