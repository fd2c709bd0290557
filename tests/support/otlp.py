"""An OTLP trace receiver for tests: OTLP/HTTP (protobuf) and OTLP/gRPC on free 127.0.0.1 ports, decoding
every export request with `opentelemetry-proto` into flat span records, and the trees those spans form."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as ts_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.support.net import free_ports

Span = dict[str, Any]


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def flatten(request: ts.ExportTraceServiceRequest, transport: str) -> list[Span]:
    """One record per span: ids in hex, resource and scope, attributes, events, links, status."""
    out = []
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "transport": transport,
                    "resource": resource,
                    "scope": ss.scope.name,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "trace_state": s.trace_state,
                    "flags": s.flags,
                    "name": s.name,
                    "kind": s.kind,
                    "start_ns": s.start_time_unix_nano,
                    "end_ns": s.end_time_unix_nano,
                    "attributes": _attrs(s.attributes),
                    "events": [(e.name, _attrs(e.attributes)) for e in s.events],
                    "links": [(lk.trace_id.hex(), lk.span_id.hex(), _attrs(lk.attributes)) for lk in s.links],
                    "status": Status.StatusCode.Name(s.status.code),
                    "status_message": s.status.message,
                })  # fmt: skip
    return out


class OtlpReceiver:
    """Both OTLP transports; `.http_endpoint` / `.grpc_endpoint` in the server's `tracing-endpoint` form."""

    def __init__(self) -> None:
        self.http_port, self.grpc_port = free_ports(2)
        self.spans: list[Span] = []
        self.requests: list[dict[str, Any]] = []  # path/method and headers of every export request
        self._cond = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None

    @property
    def http_endpoint(self) -> str:
        return f"otlp+http://127.0.0.1:{self.http_port}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def _received(self, request: ts.ExportTraceServiceRequest, transport: str, meta: dict[str, Any]) -> None:
        with self._cond:
            self.requests.append({"transport": transport, **meta})
            self.spans.extend(flatten(request, transport))
            self._cond.notify_all()

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ts.ExportTraceServiceRequest.FromString(body)
                receiver._received(request, "http", {"path": self.path, "headers": dict(self.headers.items())})
                answer = ts.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", self.http_port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

        class Service(ts_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> ts.ExportTraceServiceResponse:  # noqa: N802
                receiver._received(request, "grpc", {"metadata": dict(context.invocation_metadata())})
                return ts.ExportTraceServiceResponse()

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        ts_grpc.add_TraceServiceServicer_to_server(Service(), self._grpc)
        self._grpc.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        self._grpc.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(0)

    def wait_for(self, predicate: Callable[[list[Span]], bool], timeout_s: float = 30.0) -> list[Span]:
        """The spans received so far, once `predicate` holds for them (TimeoutError with what came)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.spans):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted(f"{s['name']} ({s['trace_id'][:8]})" for s in self.spans)
                    raise TimeoutError(f"spans not there after {timeout_s}s; received: {names}")
                self._cond.wait(left)
            return list(self.spans)


def trace_of(spans: list[Span], name: str, attribute: tuple[str, Any] | None = None) -> str:
    """The trace id of the (first) span named `name` (with `attribute` = value, if given)."""
    for s in spans:
        if s["name"] == name and (attribute is None or s["attributes"].get(attribute[0]) == attribute[1]):
            return str(s["trace_id"])
    raise KeyError(name)


def shape(spans: list[Span], trace_id: str) -> list[Any]:
    """A trace as nested [name, [events...], [children...]] (children in name order): its tree shape,
    without ids or times. A span whose parent is not in the trace is a root."""
    mine = [s for s in spans if s["trace_id"] == trace_id]
    ids = {s["span_id"] for s in mine}

    def node(s: Span) -> list[Any]:
        children = [c for c in mine if c["parent_span_id"] == s["span_id"]]
        events = [_event_label(name, attrs) for name, attrs in s["events"]]
        return [s["name"], events, sorted((node(c) for c in children), key=repr)]

    roots = [s for s in mine if s["parent_span_id"] not in ids]
    return sorted((node(s) for s in roots), key=repr)


def _event_label(name: str, attrs: dict[str, Any]) -> str:
    short = name.rsplit(".", 1)[-1]
    detail = attrs.get("restate.journal.command.type") or attrs.get("restate.journal.notification.id") or ""
    label = attrs.get("restate.journal.command.name")
    return f"{short}:{detail}" + (f"({label})" if label else "")
