"""Opt-in OpenTelemetry spans of our SDK (`enable_tracing(app, tracer)`): one span per handler execution
and one per executed `ctx.run`, children of the invocation-attempt span whose W3C `traceparent` the
server sends with every attempt, so they join the server's trace.

    app = restate.app(services=[...])
    enable_tracing(app, opentelemetry.trace.get_tracer("my-app"))

OpenTelemetry is imported only when tracing is enabled (the SDK does not depend on it otherwise)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def enable_tracing(app: Any, tracer: Any) -> Any:
    """Turns on the SDK's spans for an app made by `restate.app` (`tracer`: an opentelemetry Tracer);
    returns the app. Kept out of `restate.app`'s parameters, which are the official SDK's."""
    endpoint = getattr(app, "endpoint", None)
    if endpoint is None:
        raise TypeError("enable_tracing needs an app made by restate.app()")
    endpoint.spans = SdkSpans(tracer)
    return app


class SdkSpans:
    """Makes the SDK's spans with the application's `opentelemetry.trace.Tracer`."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = tracer
        self._trace = trace
        self._propagator = TraceContextTextMapPropagator()

    @contextmanager
    def handler(self, attempt_headers: Mapping[str, str], service: str, handler: str, invocation_id: str,
                replaying: bool) -> Iterator[Any]:  # fmt: skip
        """The current span while the handler runs: `{service}/{handler}`, a child of the attempt's span."""
        parent = self._propagator.extract({k.lower(): v for k, v in attempt_headers.items()})
        attributes = {"rpc.system": "restate", "rpc.service": service, "rpc.method": handler,
                      "restate.invocation.id": invocation_id, "restate.replaying": replaying}  # fmt: skip
        with self.tracer.start_as_current_span(
            f"{service}/{handler}", context=parent, kind=self._trace.SpanKind.SERVER, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            yield span

    @contextmanager
    def run(self, parent: Any, name: str, invocation_id: str) -> Iterator[Any]:
        """`ctx.run {name}` around one execution of a step's closure (a retried step: one span per try)."""
        with self.tracer.start_as_current_span(
            f"ctx.run {name}", context=self._trace.set_span_in_context(parent),
            attributes={"restate.run.name": name, "restate.invocation.id": invocation_id},
            record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            yield span

    def failed(self, span: Any, error: BaseException, message: str) -> None:
        span.record_exception(error)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, message))
