"""A Kafka record as the invocation its subscription makes of it (pure: no I/O, unit-tested by values).

The invocation is what the real server builds (docs: reference/kafka/README.md, section 4): the record key
(UTF-8) is the object or workflow key, the value the body, and six headers describe the record. Its id is
derived from (producer, offset), so a re-delivered record names the same invocation."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import xxhash

from restate import ids
from restate.kafka.definitions import Subscription
from restate.tracing.trace_context import parse_traceparent
from restate.wire import IngestRecord, InvocationRequest, Target, TraceContext

# Record headers a handler gets as invocation headers (the real server drops every record header): W3C trace
# context, so that the invocation continues the producer's trace.
KEPT_RECORD_HEADERS = ("traceparent", "tracestate")


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What a consumer read: one record of `topic` partition `partition` at `offset`."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unusable:
    """A record that cannot become an invocation (the real server stalls on it for ever; we park it)."""

    reason: str


def producer_id(sub: Subscription, topic: str, partition: int) -> str:
    """The dedup producer of a subscription's topic partition: its offsets are deduplicated together."""
    return f"{sub.id}|{sub.group_id}|{topic}|{partition}"


def record_headers(sub: Subscription, record: KafkaRecord) -> list[tuple[str, str]]:
    """The invocation headers, in the real server's order, plus the trace context the record carries."""
    headers = [
        ("kafka.offset", str(record.offset)),
        ("kafka.topic", record.topic),
        ("kafka.partition", str(record.partition)),
    ]
    if record.timestamp_ms is not None:
        headers.append(("kafka.timestamp", str(record.timestamp_ms)))
    headers.append(("restate.subscription.id", sub.id))
    if record.key is not None:
        headers.append(("kafka.key", base64.urlsafe_b64encode(record.key).decode()))
    for name, value in record.headers:
        if name.lower() in KEPT_RECORD_HEADERS and value is not None:
            try:
                headers.append((name.lower(), value.decode("ascii")))
            except UnicodeDecodeError:
                continue  # not a trace context header at all: dropped, as every other record header
    return headers


def trace_of(headers: list[tuple[str, str]]) -> TraceContext | None:
    """The producer's sampled trace context, which the invocation continues (its start span a child of the
    producer's span); None: no context, or not sampled."""
    found = dict(headers)
    client = parse_traceparent(found.get("traceparent"), found.get("tracestate"))
    if not client:
        return None
    return TraceContext(client.trace_id, client.span_id, client.trace_state)


def object_key(sub: Subscription, record: KafkaRecord) -> str | None | Unusable:
    """The object/workflow key of a keyed sink (a null key is `""`), None for a service sink."""
    if sub.sink_type == "service":
        return None
    try:
        return (record.key or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unusable(f"The Kafka record key must be valid UTF-8: {exc}")


def invocation_id(sub: Subscription, producer: str, offset: int, key: str | None) -> bytes:
    seed = f"{producer}\x00{offset}".encode()
    if key is None:
        partition_key = xxhash.xxh3_64_intdigest(seed)
    elif sub.sink_type == "workflow" and sub.exclusive:
        return ids.workflow_run_id(sub.service, key).to_bytes()  # a workflow's run: one per key
    else:
        partition_key = ids.partition_key_for(key)
    return ids.InvocationId(partition_key, xxhash.xxh3_128_digest(seed)).to_bytes()


def to_ingest(sub: Subscription, record: KafkaRecord, key_override: str | None = None) -> IngestRecord | Unusable:
    """The record as an invocation of the subscription's sink; Unusable when it cannot be one.

    `key_override` is the key an operator gives when replaying a parked record."""
    key = key_override if key_override is not None and sub.sink_type != "service" else object_key(sub, record)
    if isinstance(key, Unusable):
        return key
    producer = producer_id(sub, record.topic, record.partition)
    target = Target(sub.service, sub.handler, key, sub.sink_type, sub.exclusive)
    headers = record_headers(sub, record)
    request = InvocationRequest(
        invocation_id=invocation_id(sub, producer, record.offset, key),
        target=target,
        input=record.value or b"",
        headers=headers,
        trace=trace_of(headers),
    )
    return IngestRecord(record.offset, request)


def partition_key_of(record: IngestRecord) -> int:
    return int.from_bytes(record.request.invocation_id[:8], "big")


def by_partition(records: list[IngestRecord], num_partitions: int) -> dict[int, list[IngestRecord]]:
    """The records each partition applies, in offset order (the order they came in)."""
    found: dict[int, list[IngestRecord]] = {}
    for record in records:
        found.setdefault(ids.partition_for(partition_key_of(record), num_partitions), []).append(record)
    return found
