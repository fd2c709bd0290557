"""The invoker's attempt spans: opened when an attempt of a traced invocation starts (its `traceparent`
goes to the deployment), fed the commands the SDK sends, exported when the attempt ends."""

from __future__ import annotations

from typing import Protocol

from restate.tracing.exporter import SpanExporter
from restate.tracing.spans import AttemptEnd, AttemptSpan, Invocation
from restate.tracing.trace_context import traceparent
from restate.wire import TraceContext


class _Trace(Protocol):
    @property
    def trace_id(self) -> bytes: ...
    @property
    def trace_state(self) -> str: ...


class _Target(Protocol):
    @property
    def service(self) -> str: ...
    @property
    def handler(self) -> str: ...
    @property
    def key(self) -> str | None: ...


class AttemptTracer:
    """One partition's open attempt spans, by invocation id. The invoker calls it only when tracing is on."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter
        self._open: dict[bytes, AttemptSpan] = {}

    def started(self, invocation_id: bytes, id_text: str, number: int, target: _Target, trace: _Trace | None,
                deployment: tuple[str, str, int]) -> list[tuple[str, str]]:  # fmt: skip
        """Opens attempt `number`'s span; returns the headers that carry it to the deployment (none when the
        invocation is not traced). `deployment`: its id, address and the protocol version."""
        self._open.pop(invocation_id, None)  # a superseded attempt that never reported: it has no end
        if trace is None:
            return []
        inv = Invocation(id_text, invocation_id, target.service, target.handler, target.key)
        ctx = TraceContext(trace.trace_id, None, trace.trace_state)
        span = AttemptSpan(inv, ctx, number, *deployment)
        self._open[invocation_id] = span
        return [("traceparent", traceparent(trace.trace_id, span.span_id)), ("tracestate", trace.trace_state)]

    def message(self, invocation_id: bytes, number: int, msg_type: int, payload: bytes) -> None:
        span = self._open.get(invocation_id)
        if span is not None and span.number == number:
            span.message(msg_type, payload)

    def ended(self, invocation_id: bytes, number: int, end: AttemptEnd, error: str = "") -> None:
        """The attempt ended (OK: a TerminalError too, it ends with Output), suspended (a `suspended`
        event, no status) or failed (ERROR `transient failure` as the real server, whatever the failure;
        `error` says which)."""
        span = self._open.get(invocation_id)
        if span is None or span.number != number:
            return
        del self._open[invocation_id]
        self._exporter.export(span.finish(end, error))

    def log_suffix(self, invocation_id: bytes) -> str:
        """` trace <id>` for a log line about an invocation whose attempt is traced (else empty)."""
        span = self._open.get(invocation_id)
        return "" if span is None else f" trace {span.ctx.trace_id.hex()}"

    def killed(self, invocation_id: bytes) -> None:
        span = self._open.pop(invocation_id, None)
        if span is not None:
            self._exporter.export(span.finish("killed"))
