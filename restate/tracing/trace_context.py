"""W3C trace context of an invocation (no I/O): traceparent parsing and formatting, the span ids derived
from an invocation id, and the context a call or a one-way send hands to the invocation it creates.

An invocation's context names the span its `invocation-start` span hangs under: the ingress span, or the
calling attempt's span. A one-way send from a handler starts a new trace instead (its trace id is the
callee's invocation UUID, as on the real server) and links to the sender's attempt span."""

from __future__ import annotations

import os
from typing import Literal

import msgspec
import xxhash

from restate.wire import TraceContext

SAMPLED = 0x01


class ClientContext(msgspec.Struct, frozen=True):
    """A sampled `traceparent` (+ `tracestate`) received from a client."""

    trace_id: bytes
    span_id: bytes
    trace_state: str = ""


def _hex(text: str, size: int) -> bytes | None:
    if len(text) != size * 2 or text != text.lower():
        return None
    try:
        value = bytes.fromhex(text)
    except ValueError:
        return None
    return None if value == bytes(size) else value


def parse_traceparent(traceparent: str | None, tracestate: str | None = None) -> ClientContext | Literal[False] | None:
    """A client's W3C context: the context when it is valid and sampled, False when it is valid but not
    sampled (the invocation is not traced at all), None when absent or malformed (a new trace starts)."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or (parts[0] == "00" and len(parts) != 4):
        return None
    trace_id, span_id = _hex(parts[1], 16), _hex(parts[2], 8)
    if trace_id is None or span_id is None or len(parts[3]) != 2:
        return None
    try:
        flags = int(parts[3], 16)
    except ValueError:
        return None
    if not flags & SAMPLED:
        return False
    return ClientContext(trace_id, span_id, (tracestate or "").strip())


def traceparent(trace_id: bytes, span_id: bytes) -> str:
    """The `traceparent` header value of a sampled span."""
    return f"00-{trace_id.hex()}-{span_id.hex()}-01"


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def start_span_id(invocation_id: bytes) -> bytes:
    """The invocation-start span's id: the last 8 bytes of the invocation's UUID (as the real server)."""
    return invocation_id[-8:]


def attempt_span_id(invocation_id: bytes, attempt: int) -> bytes:
    """The span id of attempt `attempt`: derived, so the state machine names a calling attempt's span
    without the invoker telling it (and a recovered attempt keeps the id of the one that never ended)."""
    return xxhash.xxh3_64_digest(invocation_id + attempt.to_bytes(4, "big"))


def end_span_id(invocation_id: bytes) -> bytes:
    return xxhash.xxh3_64_digest(invocation_id + b"end")


def from_ingress(client: ClientContext | None, ingress_span_id: bytes) -> TraceContext:
    """The context of an invocation created by an ingress request whose span is `ingress_span_id`."""
    if client is None:
        return TraceContext(new_trace_id(), ingress_span_id)
    return TraceContext(client.trace_id, ingress_span_id, client.trace_state)


def client_only(traceparent_value: bytes, tracestate_value: bytes | None) -> TraceContext | None:
    """Tracing off: a sampled client context is still kept with the invocation (its trace id shows in
    sys_invocation, and calls carry it on), as the real server does; no span is made."""
    client = parse_traceparent(traceparent_value.decode("latin-1"), (tracestate_value or b"").decode("latin-1"))
    if not client:
        return None
    return TraceContext(client.trace_id, client.span_id, client.trace_state)


def for_call(caller: TraceContext, caller_id: bytes, attempt: int) -> TraceContext:
    """A call from attempt `attempt` of `caller_id`: the callee's start span is a child of that attempt."""
    return TraceContext(caller.trace_id, attempt_span_id(caller_id, attempt), caller.trace_state)


def for_send(caller: TraceContext, caller_id: bytes, attempt: int, callee_id: bytes) -> TraceContext:
    """A one-way send from a handler: a new trace (the callee's UUID) linked to the sending attempt."""
    return TraceContext(
        callee_id[-16:],
        None,
        caller.trace_state,
        link_trace_id=caller.trace_id,
        link_span_id=attempt_span_id(caller_id, attempt),
    )
