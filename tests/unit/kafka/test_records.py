"""Kafka records as invocations (restate.kafka.record_invocation): target, key, body, headers and ids, by value."""

from __future__ import annotations

from restate import ids
from restate.kafka.definitions import KafkaCluster, Subscription, completed_options, consumer_config
from restate.kafka.record_invocation import KafkaRecord, Unusable, by_partition, producer_id, to_ingest
from restate.kafka.uris import UriError, parse_uri

SUB = Subscription("sub_1020ZhuLtXKOXg0DnE8ERnr", "c", "t1", "KSvc", "raw", "service", {"group.id": "g"})
OBJ = Subscription("sub_16indg1fUqXWD59b6WYY2qd", "c", "tobj", "KObj", "add", "virtual_object", {}, exclusive=True)
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def record(key: bytes | None = b"k1", offset: int = 0, **kw: object) -> KafkaRecord:
    return KafkaRecord("t1", 3, offset, key, b"hello", **kw)  # type: ignore[arg-type]


def test_headers_are_the_real_servers_in_its_order() -> None:
    headers = [("x-custom", b"v"), ("traceparent", TRACEPARENT)]
    made = to_ingest(SUB, record(timestamp_ms=1796183580964, headers=headers))
    assert not isinstance(made, Unusable)
    assert made.request.headers == [
        ("kafka.offset", "0"), ("kafka.topic", "t1"), ("kafka.partition", "3"), ("kafka.timestamp", "1796183580964"),
        ("restate.subscription.id", SUB.id), ("kafka.key", "azE="), ("traceparent", TRACEPARENT.decode()),
    ]  # fmt: skip
    assert made.request.input == b"hello" and made.request.target.key is None and made.offset == 0
    trace = made.request.trace  # the invocation continues the producer's trace
    assert trace is not None and trace.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert trace.parent_span_id is not None and trace.parent_span_id.hex() == "b7ad6b7169203331"
    assert to_ingest(SUB, record()).request.trace is None  # type: ignore[union-attr]


def test_null_and_empty_keys() -> None:
    null = to_ingest(OBJ, record(key=None))
    empty = to_ingest(OBJ, record(key=b""))
    assert not isinstance(null, Unusable) and not isinstance(empty, Unusable)
    assert null.request.target.key == "" == empty.request.target.key  # both the object key ""
    assert "kafka.key" not in dict(null.request.headers) and dict(empty.request.headers)["kafka.key"] == ""
    assert to_ingest(OBJ, record(key=None, timestamp_ms=None)).request.headers[3][0] == "restate.subscription.id"  # type: ignore[union-attr]


def test_a_key_that_is_not_utf8_is_unusable_for_an_object_but_fine_for_a_service() -> None:
    bad = to_ingest(OBJ, record(key=b"\xff\xfe"))
    assert isinstance(bad, Unusable) and bad.reason.startswith("The Kafka record key must be valid UTF-8")
    assert not isinstance(to_ingest(SUB, record(key=b"\xff")), Unusable)
    replayed = to_ingest(OBJ, record(key=b"\xff\xfe"), key_override="fixed")
    assert not isinstance(replayed, Unusable) and replayed.request.target.key == "fixed"


def test_ids_are_the_same_for_a_redelivered_record_and_objects_land_on_their_keys_partition() -> None:
    a, b, c = (to_ingest(OBJ, record(offset=o)) for o in (5, 5, 6))
    assert not isinstance(a, Unusable) and not isinstance(b, Unusable) and not isinstance(c, Unusable)
    assert a.request.invocation_id == b.request.invocation_id != c.request.invocation_id
    assert ids.InvocationId.from_bytes(a.request.invocation_id).partition_key == ids.partition_key_for("k1")
    assert a.request.target.exclusive and a.request.target.service_ty == "virtual_object"


def test_records_are_grouped_by_partition_in_their_order() -> None:
    made = [to_ingest(SUB, record(offset=o)) for o in range(50)]
    groups = by_partition([m for m in made if not isinstance(m, Unusable)], 4)
    assert len(groups) > 1
    for records in groups.values():
        assert [r.offset for r in records] == sorted(r.offset for r in records)
    assert sum(len(r) for r in groups.values()) == 50
    assert producer_id(SUB, "t1", 3) == f"{SUB.id}|g|t1|3"


def test_consumer_config_layers_and_forces_offset_storing() -> None:
    cluster = KafkaCluster("c", {"bootstrap.servers": "b:1", "group.id": "cg", "enable.auto.commit": "false"})
    options = completed_options({"auto.offset.reset": "earliest"}, cluster, SUB.id)
    assert options == {"auto.offset.reset": "earliest", "group.id": "cg", "client.id": "restate"}
    sub = Subscription(SUB.id, "c", "t1", "KSvc", "raw", "service", options)
    assert consumer_config(cluster, sub) == {
        "bootstrap.servers": "b:1", "group.id": "cg", "enable.auto.commit": "true", "auto.offset.reset": "earliest",
        "client.id": "restate", "enable.auto.offset.store": "false",
    }  # fmt: skip


def test_uris() -> None:
    uri = parse_uri("kafka://my-cluster/a/b?x=1")
    assert (uri.scheme, uri.authority, uri.rest, str(uri)) == ("kafka", "my-cluster", "a/b", "kafka://my-cluster/a/b?x=1")
    assert str(parse_uri("service://KSvc")) == "service://KSvc/"
    for text, reason in (("kafka:/t1", "invalid format"), ("not a uri", "invalid uri character"),
                         ("service:///raw", "invalid format")):  # fmt: skip
        try:
            parse_uri(text)
        except UriError as exc:
            assert str(exc) == reason
        else:
            raise AssertionError(text)
