"""The `tracing-endpoint` URI as the real server reads it: its scheme picks OTLP/gRPC or OTLP/HTTP."""

from __future__ import annotations

from typing import Literal

import msgspec

Protocol = Literal["grpc", "http/protobuf"]


class EndpointError(ValueError):
    """Not an endpoint the real server would accept (its startup error is `invalid scheme`)."""


class Endpoint(msgspec.Struct, frozen=True):
    protocol: Protocol
    url: str  # what the exporter is given: gRPC `http(s)://host:port`, HTTP the full URL (path as given)


def parse_endpoint(uri: str) -> Endpoint:
    """`http(s)://`, `grpc://`, `otlp+grpc://` mean OTLP/gRPC; `otlp+http(s)://` (also `otlp+proto+...`)
    OTLP/HTTP with protobuf, to the URI as given (`/v1/traces` included). The scheme is split on `+` and
    the order of its tokens does not matter, as in the real server. `otlp+json+http(s)://` (OTLP/HTTP
    with JSON) is refused: the OpenTelemetry Python SDK has no such exporter."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not rest:
        raise EndpointError(f"invalid scheme: {uri!r} is no URI")
    tokens = set(scheme.lower().split("+"))
    secure = "https" in tokens
    has_http = secure or "http" in tokens
    other = tokens - {"http", "https"}
    base = f"{'https' if secure else 'http'}://{rest}"
    if (has_http and not other) or ("grpc" in other and other <= {"grpc", "otlp"}):
        return Endpoint("grpc", base)
    if has_http and "otlp" in other and other <= {"otlp", "proto"}:
        return Endpoint("http/protobuf", base)
    if has_http and other == {"otlp", "json"}:
        raise EndpointError(f"{uri!r}: OTLP/HTTP with JSON is not supported, use otlp+http://")
    raise EndpointError(f"invalid scheme {scheme!r} in {uri!r}")
