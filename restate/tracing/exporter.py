"""One process's span export: finished spans (restate.tracing.spans) go to an OpenTelemetry batch span
processor, whose own thread exports them over OTLP/gRPC or OTLP/HTTP; the hot path only enqueues.

OpenTelemetry is imported here only, and only when tracing is on: a process without an endpoint never
loads it and creates no span objects."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from restate.tracing import spans, trace_context
from restate.tracing.endpoint import parse_endpoint
from restate.tracing.spans import Span
from restate.wire import InvocationRequest, Target, TraceContext

if TYPE_CHECKING:
    from restate.config import Config

log = logging.getLogger(__name__)

SCOPE = "services"  # the real server's instrumentation scope for invocation spans
VERSION = "1.7.12"
SHUTDOWN_FLUSH_MS = 2000  # the real server release whose span model this mirrors (resource service.version)


class SpanExporter:
    """Turns spans into OpenTelemetry spans and hands them to the batch processor."""

    def __init__(self, processor: Any, resource: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk import trace as sdk
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._processor = processor
        self._resource = resource
        self._scope = InstrumentationScope(SCOPE)
        self._trace, self._sdk = trace, sdk
        self._ok = trace.Status(trace.StatusCode.OK)
        self._unset = trace.Status(trace.StatusCode.UNSET)

    def export(self, span: Span) -> None:
        trace, sdk = self._trace, self._sdk
        sampled = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        state = trace.TraceState.from_header([span.trace_state]) if span.trace_state else trace.TraceState()
        tid = int.from_bytes(span.trace_id, "big")
        context = trace.SpanContext(tid, int.from_bytes(span.span_id, "big"), False, sampled, state)
        parent = None
        if span.parent_id is not None:
            parent = trace.SpanContext(tid, int.from_bytes(span.parent_id, "big"), span.parent_remote, sampled, state)
        if span.status == "ok":
            status = self._ok
        elif span.status == "error":
            status = trace.Status(trace.StatusCode.ERROR, span.status_message)
        else:
            status = self._unset
        events = [sdk.Event(e.name, e.attributes, e.time_ns) for e in span.events]
        links = [
            trace.Link(trace.SpanContext(_int(lk.trace_id), _int(lk.span_id), False, sampled), lk.attributes)
            for lk in span.links
        ]
        readable = sdk.ReadableSpan(
            span.name, context, parent, self._resource, span.attributes, events, links, trace.SpanKind.INTERNAL,
            status=status, start_time=span.start_ns, end_time=span.end_ns, instrumentation_scope=self._scope,
        )  # fmt: skip
        self._processor.on_end(readable)

    def ingress(self, headers: dict[bytes, bytes], peer: tuple[str, int] | None, invocation_id: bytes,
                target: Target) -> TraceContext | None:  # fmt: skip
        """An ingress request creates an invocation: exports its `ingress {target}` span (a child of the
        client's `traceparent` span, if any) and returns the invocation's context. A client trace that is
        not sampled is not traced at all (None)."""
        tp, ts = headers.get(b"traceparent"), headers.get(b"tracestate")
        text = (tp.decode("latin-1") if tp else None, ts.decode("latin-1") if ts else None)
        client = trace_context.parse_traceparent(*text)
        if client is False:
            return None
        ctx = trace_context.from_ingress(client, trace_context.new_span_id())
        inv = spans.invocation(invocation_id, target)
        self.export(spans.ingress_span(inv, ctx, client.span_id if client else None, peer, spans.now_ns()))
        return ctx

    def kafka(self, request: InvocationRequest, group: str, topic: str, partition: int, offset: int) -> TraceContext:
        """A Kafka record becomes an invocation: exports its `ingress_kafka {target}` span, with the real
        server's `messaging.*` attributes, and returns the invocation's context. The span is a root, or
        (ours) a child of the producer's span when the record carried a sampled traceparent."""
        producer = request.trace  # the record's own context (restate.kafka.record_invocation.trace_of)
        span_id = trace_context.new_span_id()
        if producer is None:
            ctx = TraceContext(trace_context.new_trace_id(), span_id)
        else:
            ctx = TraceContext(producer.trace_id, span_id, producer.trace_state)
        inv = spans.invocation(request.invocation_id, request.target)
        attrs = inv.attributes()
        attrs.update({
            "messaging.system": "kafka", "messaging.consumer.group.name": group,
            "messaging.operation.type": "process", "messaging.kafka.offset": offset,
            "messaging.source.partition.id": partition, "messaging.source.name": topic,
        })  # fmt: skip
        at = spans.now_ns()
        parent = None if producer is None else producer.parent_span_id
        self.export(Span(f"ingress_kafka {inv.span_target}", ctx.trace_id, span_id, parent, at, at, attrs,
                         ctx.trace_state, parent_remote=parent is not None))  # fmt: skip
        return ctx

    def shutdown(self) -> None:
        """Exports what is queued (a graceful stop flushes, as the real server's), for at most
        SHUTDOWN_FLUSH_MS: a collector that is down must not hold up the stop (its retries take 10 s)."""
        try:
            inner = getattr(self._processor, "_batch_processor", None)  # the SDK's, with a bounded shutdown
            if inner is not None and hasattr(inner, "shutdown"):
                inner.shutdown(timeout_millis=SHUTDOWN_FLUSH_MS)
            else:
                self._processor.shutdown()
        except Exception:  # the collector is gone: nothing left to do about those spans
            log.warning("tracing: the last spans could not be exported", exc_info=True)


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def setup(config: Config, process: str) -> SpanExporter | None:
    """This process's exporter (None when tracing is off). Called in each process after the fork: the
    batch processor's thread and the exporter's connection are the process's own."""
    if not config.tracing_endpoint:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = parse_endpoint(config.tracing_endpoint)
    headers = dict(config.tracing_headers)
    exporter: Any
    if endpoint.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter(endpoint=endpoint.url, insecure=endpoint.url.startswith("http://"), headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter(endpoint=endpoint.url, headers=headers)
    resource = Resource.create(
        {
            "service.name": config.tracing_service_name,
            "service.namespace": "Restate",
            "service.instance.id": f"localcluster/{process}",
            "service.version": VERSION,
        }
    )
    log.info("tracing: exporting spans to %s (%s)", config.tracing_endpoint, endpoint.protocol)
    return SpanExporter(BatchSpanProcessor(exporter), resource)
