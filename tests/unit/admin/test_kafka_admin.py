"""`/subscriptions` and `/kafka-clusters` through the admin app, against the real server's captured answers
(../shared/docs/reference/kafka/admin_subscriptions.txt, admin_kafka_clusters.txt)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from restate.admin.app import AdminApp, AdminHooks
from restate.config import Config
from restate.ids import check_subscription_id, new_subscription_id
from restate.kafka.definitions import KafkaRegistry
from restate.schema import Deployment, HandlerSchema, Schema, ServiceSchema
from tests.unit.admin.helpers import Reply, call

SUB_A, SUB_B = "sub_1020ZhuLtXKOXg0DnE8ERnr", "sub_16bUOdkMQ98XqOVjWONnEWZ"
T0 = 1_796_183_817_877  # 2026-12-02T03:56:57.877Z
CONFIG = Config(kafka_clusters={"my-cluster": {"metadata.broker.list": "PLAINTEXT://127.0.0.1:19092"}})
TEXT = "text/plain; charset=utf-8"
STATIC_INFO = [{"message": "This Kafka cluster was configured in the static cluster configuration, this is "
                "deprecated. Please register it using the new Kafka Admin functionalities."}]  # fmt: skip


def _schema() -> Schema:
    dep = Deployment("dp_12PgsFJ82wRXepxIaMzIdLr", "http://127.0.0.1:49080/", "BidiStream", "HTTP/2.0", T0, 5, 6)
    svc = ServiceSchema("KSvc", "Service", {"raw": HandlerSchema("raw"), "js": HandlerSchema("js")}, dep.id)
    obj = ServiceSchema("KObj", "VirtualObject", {"add": HandlerSchema("add", "Exclusive"),
                                                  "get": HandlerSchema("get", "Shared")}, dep.id)  # fmt: skip
    return Schema(1, {dep.id: dep}, {"KSvc": svc, "KObj": obj})


class Recorder:
    def __init__(self) -> None:
        self.persisted: list[KafkaRegistry] = []
        self.published: list[KafkaRegistry] = []
        self.ids = [SUB_A, SUB_B]

    async def persist(self, registry: KafkaRegistry) -> None:
        self.persisted.append(registry)

    async def publish(self, registry: KafkaRegistry) -> None:
        self.published.append(registry)

    def app(self) -> AdminApp:
        hooks = AdminHooks(persist_kafka=self.persist, publish_kafka=self.publish, now_ms=lambda: T0,
                           new_subscription_id=lambda: self.ids.pop(0))  # fmt: skip
        return AdminApp(_schema(), CONFIG, hooks)


def request(app: AdminApp, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
    return asyncio.run(call(app, method, path, body, **kw))


def raw(app: AdminApp, method: str, path: str, body: bytes) -> Reply:
    return request(app, method, path, body, headers={"content-type": "application/json"})


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


# --- subscriptions ------------------------------------------------------------------------------------------


def test_create_completes_the_options_and_answers_as_the_real_server(rec: Recorder) -> None:
    app = rec.app()
    body = {"source": "kafka://my-cluster/t1", "sink": "service://KSvc/raw",
            "options": {"auto.offset.reset": "earliest"}}  # fmt: skip
    reply = request(app, "POST", "/subscriptions", body)
    assert reply.status == 201
    assert reply.headers["location"] == f"subscriptions/{SUB_A}"
    assert reply.json() == {
        "id": SUB_A, "source": "kafka://my-cluster/t1", "sink": "service://KSvc/raw",
        "options": {"auto.offset.reset": "earliest", "group.id": SUB_A, "client.id": "restate"},
    }  # fmt: skip
    assert [r.version for r in rec.persisted] == [1] and rec.published == rec.persisted
    sub = app.kafka.subscriptions[SUB_A]
    assert (sub.sink_type, sub.exclusive, sub.topic) == ("service", False, "t1")
    assert request(app, "GET", f"/v4/subscriptions/{SUB_A}").json() == reply.json()
    assert request(app, "GET", "/subscriptions").json() == {"subscriptions": [reply.json()]}


def test_object_sink_custom_group_and_normalised_uris(rec: Recorder) -> None:
    app = rec.app()
    body = {"source": "kafka://my-cluster/a/b?x=1", "sink": "service://KObj/add",
            "options": {"group.id": "my-custom-group", "client.id": "me"}}  # fmt: skip
    reply = request(app, "POST", "/subscriptions", body)
    assert reply.status == 201
    assert reply.json()["source"] == "kafka://my-cluster/a/b"
    assert reply.json()["options"] == {"group.id": "my-custom-group", "client.id": "me"}
    sub = app.kafka.subscriptions[SUB_A]
    assert (sub.sink_type, sub.exclusive, sub.topic, sub.group_id) == ("virtual_object", True, "a/b", "my-custom-group")
    no_topic = request(app, "POST", "/subscriptions", {"source": "kafka://my-cluster", "sink": "service://KSvc/raw"})
    assert (no_topic.status, no_topic.json()["source"]) == (201, "kafka://my-cluster/")


def test_list_filters_by_exact_source_and_sink(rec: Recorder) -> None:
    app = rec.app()
    request(app, "POST", "/subscriptions", {"source": "kafka://my-cluster/t1", "sink": "service://KSvc/raw"})
    request(app, "POST", "/subscriptions", {"source": "kafka://my-cluster/tobj", "sink": "service://KObj/add"})
    found = request(app, "GET", "/subscriptions?sink=service://KObj/add&source=kafka://my-cluster/tobj").json()
    assert [s["id"] for s in found["subscriptions"]] == [SUB_B]
    empty = request(app, "GET", "/subscriptions?sink=service://KObj/nope")
    assert empty.body == b'{"subscriptions":[]}'


def test_delete_answers_202_then_404_with_the_registry_wording(rec: Recorder) -> None:
    app = rec.app()
    request(app, "POST", "/subscriptions", {"source": "kafka://my-cluster/t1", "sink": "service://KSvc/raw"})
    reply = request(app, "DELETE", f"/subscriptions/{SUB_A}")
    assert (reply.status, reply.body, reply.headers.get("content-type")) == (202, b"", None)
    again = request(app, "DELETE", f"/subscriptions/{SUB_A}")
    assert again.status == 404
    assert again.json() == {
        "message": f"not found in the schema registry: subscription with id '{SUB_A}'",
        "restate_code": None,
    }
    missing = request(app, "GET", f"/subscriptions/{SUB_A}")
    assert missing.json()["message"] == f"The requested subscription '{SUB_A}' does not exist"
    assert app.kafka.subscriptions == {} and rec.persisted[-1].version == 2


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/subscriptions/foo", "`foo`: bad format"),
        ("/subscriptions/sub_1aaaaaaaaaaaaaaaaaaaaaa", "`sub_1aaaaaaaaaaaaaaaaaaaaaa`: base62 decode error"),
        ("/subscriptions/inv_1gfGTJWRonQx4WYuHL6TxYVWYzqk4t30QN",
         "`inv_1gfGTJWRonQx4WYuHL6TxYVWYzqk4t30QN`: id doesn't match the expected type"),
    ],
)  # fmt: skip
def test_malformed_ids_are_400_text(rec: Recorder, path: str, reason: str) -> None:
    for method in ("GET", "DELETE"):
        reply = request(rec.app(), method, path)
        assert (reply.status, reply.headers["content-type"]) == (400, TEXT)
        assert reply.body.decode() == f"Invalid URL: Cannot parse `subscription` with value {reason}"


def test_put_is_405_with_allow(rec: Recorder) -> None:
    reply = request(rec.app(), "PUT", "/subscriptions", {})
    assert (reply.status, reply.headers["allow"], reply.body) == (405, "POST,GET,HEAD", b"")


ERRORS = [
    ('{"source":"kafka://nope/t1","sink":"service://KSvc/raw"}', 400,
     {"message": "Kafka cluster 'nope' not found. Available clusters: [\"my-cluster\"]", "restate_code": None}),
    ('{"source":"http://my-cluster/t1","sink":"service://KSvc/raw"}', 400,
     {"message": "[META0009] invalid source URI 'http://my-cluster/t1': must have a scheme segment, with supported "
      "schemes: [kafka].", "restate_code": "META0009"}),
    ('{"source":"kafka:/t1","sink":"service://KSvc/raw"}', 422,
     "Failed to deserialize the JSON body into the target type: source: invalid format at line 1 column 21"),
    ('{"source":"not a uri","sink":"service://KSvc/raw"}', 422,
     "Failed to deserialize the JSON body into the target type: source: invalid uri character at line 1 column 21"),
    ('{"source":"kafka://my-cluster/t1","sink":"svc://KSvc/raw"}', 400,
     {"message": "[META0009] invalid sink URI 'svc://KSvc/raw': must have a scheme segment, with supported schemes: "
      "[service].", "restate_code": "META0009"}),
    ('{"source":"kafka://my-cluster/t1","sink":"service://Nope/raw"}', 400,
     {"message": "[META0009] invalid sink URI 'service://Nope/raw': cannot find service/handler specified in the "
      "sink URI.", "restate_code": "META0009"}),
    ('{"source":"kafka://my-cluster/t1","sink":"service://KSvc/nope"}', 400,
     {"message": "[META0009] invalid sink URI 'service://KSvc/nope': cannot find service/handler specified in the "
      "sink URI.", "restate_code": "META0009"}),
    ('{"source":"kafka://my-cluster/t1","sink":"service://KSvc"}', 400,
     {"message": "[META0009] invalid sink URI 'service://KSvc/': cannot find service/handler specified in the "
      "sink URI.", "restate_code": "META0009"}),
    ('{"source":"kafka://my-cluster/t1","sink":"service:///raw"}', 422,
     "Failed to deserialize the JSON body into the target type: sink: invalid format at line 1 column 57"),
    ('{"source":"kafka://my-cluster/t1"}', 422,
     "Failed to deserialize the JSON body into the target type: missing field `sink` at line 1 column 34"),
    ('{"source":"kafka://my-cluster/t1","sink":"service://KSvc/raw","options":{"a":1}}', 422,
     "Failed to deserialize the JSON body into the target type: options.a: invalid type: integer `1`, expected a "
     "string at line 1 column 78"),
    ("{bad json", 400, "Failed to parse the request body as JSON: key must be a string at line 1 column 2"),
]  # fmt: skip


@pytest.mark.parametrize("body,status,expected", ERRORS)
def test_create_errors_as_the_real_server(rec: Recorder, body: str, status: int, expected: object) -> None:
    app = rec.app()
    reply = raw(app, "POST", "/subscriptions", body.encode())
    assert reply.status == status
    if isinstance(expected, str):
        assert (reply.headers["content-type"], reply.body.decode()) == (TEXT, expected)
    else:
        assert reply.json() == expected
    assert rec.persisted == [] and app.kafka == KafkaRegistry()


def test_create_without_json_content_type_is_415(rec: Recorder) -> None:
    reply = request(rec.app(), "POST", "/subscriptions", b"source=x", headers={"content-type": "text/plain"})
    assert (reply.status, reply.body) == (415, b"Expected request with `Content-Type: application/json`")


def test_subscription_ids_have_the_real_shape() -> None:
    new = new_subscription_id()
    assert len(new) == 27 and new.startswith("sub_1") and check_subscription_id(new) == new


# --- kafka clusters -------------------------------------------------------------------------------------------

DYN = {"name": "dyn", "properties": {"bootstrap.servers": "127.0.0.1:19092", "sasl.password": "s3cret",
                                     "session.timeout.ms": "30000"}}  # fmt: skip
DYN_VIEW = {"name": "dyn", "properties": {"bootstrap.servers": "127.0.0.1:19092", "sasl.password": "***",
            "session.timeout.ms": "30000"}, "created_at": "2026-12-02T03:56:57.877000000Z"}  # fmt: skip


def test_cluster_create_redacts_secrets_and_stores_them(rec: Recorder) -> None:
    app = rec.app()
    reply = request(app, "POST", "/kafka-clusters", DYN)
    assert (reply.status, reply.headers["location"], reply.json()) == (201, "kafka-clusters/dyn", DYN_VIEW)
    assert rec.persisted[-1].clusters["dyn"].properties["sasl.password"] == "s3cret"
    listed = request(app, "GET", "/kafka-clusters").json()["clusters"]
    static = {"name": "my-cluster", "properties": {"metadata.broker.list": "PLAINTEXT://127.0.0.1:19092"},
              "created_at": "1970-01-01T00:00:00Z", "info": STATIC_INFO}  # fmt: skip
    assert listed == [DYN_VIEW, static]
    assert request(app, "GET", "/kafka-clusters/dyn").json() == {**DYN_VIEW, "subscriptions": []}
    assert request(app, "GET", "/kafka-clusters/my-cluster").json() == {**static, "subscriptions": []}


@pytest.mark.parametrize(
    "body,status,message",
    [
        (DYN, 409, "kafka cluster 'dyn' already exists in schema registry"),
        ({"name": "my-cluster", "properties": {"bootstrap.servers": "x:1"}}, 409,
         "kafka cluster 'my-cluster' conflicts with static configuration. Cluster names in schema registry cannot "
         "override statically configured clusters."),
        ({"name": "nobrokers", "properties": {"x": "y"}}, 400,
         "kafka cluster 'nobrokers' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'"),
    ],
)  # fmt: skip
def test_cluster_create_errors(rec: Recorder, body: dict[str, Any], status: int, message: str) -> None:
    app = rec.app()
    request(app, "POST", "/kafka-clusters", DYN)
    reply = request(app, "POST", "/kafka-clusters", body)
    assert (reply.status, reply.json()) == (status, {"message": message, "restate_code": None})


def test_cluster_name_must_be_a_uri_authority(rec: Recorder) -> None:
    body = b'{"name":"bad name!","properties":{"bootstrap.servers":"127.0.0.1:19092"}}'
    reply = raw(rec.app(), "POST", "/kafka-clusters", body)
    assert reply.status == 422
    assert reply.body == (b"Failed to deserialize the JSON body into the target type: name: invalid uri character "
                          b"at line 1 column 19")  # fmt: skip


def test_cluster_patch_replaces_properties_and_static_ones_are_read_only(rec: Recorder) -> None:
    app = rec.app()
    request(app, "POST", "/kafka-clusters", DYN)
    new = {"properties": {"bootstrap.servers": "127.0.0.1:19092", "session.timeout.ms": "45000"}}
    reply = request(app, "PATCH", "/kafka-clusters/dyn", new)
    assert reply.status == 200
    assert reply.json() == {"name": "dyn", "properties": new["properties"], "created_at": DYN_VIEW["created_at"]}
    bad = request(app, "PATCH", "/kafka-clusters/dyn", {"properties": {"foo": "bar"}})
    assert (bad.status, bad.json()["message"]) == (
        400,
        "kafka cluster 'dyn' properties must contain either 'bootstrap.servers' or 'metadata.broker.list'",
    )
    for method in ("PATCH", "DELETE"):
        static = request(app, method, "/kafka-clusters/my-cluster", {"properties": {"bootstrap.servers": "x:1"}})
        assert static.status == 409
        assert static.json()["message"].startswith("kafka cluster 'my-cluster' cannot be updated, because it was")
    assert request(app, "GET", "/kafka-clusters/nope").json()["message"] == (
        "The requested Kafka cluster 'nope' does not exist"
    )


def test_cluster_delete_in_use_needs_force_and_leaves_an_orphan(rec: Recorder) -> None:
    app = rec.app()
    request(app, "POST", "/kafka-clusters", DYN)
    sub = request(app, "POST", "/subscriptions", {"source": "kafka://dyn/t1", "sink": "service://KSvc/raw"}).json()
    described = request(app, "GET", "/kafka-clusters/dyn?include_subscriptions=true").json()
    assert described["subscriptions"] == [sub]
    refused = request(app, "DELETE", "/kafka-clusters/dyn")
    assert (refused.status, refused.json()["message"]) == (409, (
        f"Removing the kafka cluster 'dyn' leads to subscription '{SUB_A}' being orphan. Remove the subscription "
        "first, or use the 'force' flag."))  # fmt: skip
    forced = request(app, "DELETE", "/kafka-clusters/dyn?force=true")
    assert (forced.status, forced.body) == (202, b"")
    assert "dyn" not in app.kafka.clusters and SUB_A in app.kafka.subscriptions
    missing = request(app, "DELETE", "/kafka-clusters/x?force=true")
    assert (missing.status, missing.json()["message"]) == (404, "not found in the schema registry: kafka cluster "
                                                                "named 'x'")  # fmt: skip


def test_the_published_registry_round_trips_over_the_bus(rec: Recorder) -> None:
    from restate import wire

    app = rec.app()
    request(app, "POST", "/kafka-clusters", DYN)
    update = wire.KafkaRegistryUpdate(rec.published[-1])
    assert wire.decode(wire.encode(update)) == [update]
    assert json.loads(msgspec.json.encode(rec.published[-1]))["version"] == 1


# --- parked records ---------------------------------------------------------------------------------------------


def test_parked_records_are_stored_once_listed_replayed_and_dropped(rec: Recorder) -> None:
    from restate.admin import parked_records
    from restate.kafka.definitions import ParkedRecord
    from restate.wire import Done, IngestRecord

    app = rec.app()
    stored: list[list[ParkedRecord]] = []
    ingested: list[tuple[int, str, list[IngestRecord]]] = []

    async def persist(records: list[ParkedRecord]) -> None:
        stored.append(records)

    async def ingest(key: int, producer: str, records: list[IngestRecord]) -> Done:
        ingested.append((key, producer, records))
        return Done(1)

    app.hooks.persist_parked, app.hooks.ingest = persist, ingest
    request(app, "POST", "/subscriptions", {"source": "kafka://my-cluster/tbad", "sink": "service://KObj/add"})
    bad = [ParkedRecord(SUB_A, "tbad", 0, o, "The Kafka record key must be valid UTF-8", T0, b"\xff", b"v")
           for o in (4, 9)]  # fmt: skip
    for record in (bad[0], bad[0], bad[1]):  # the Kafka process re-sends until answered: stored once
        asyncio.run(parked_records.park(app, record))
    assert len(stored) == 2 and app.parked == bad
    listed = request(app, "GET", f"/subscriptions/{SUB_A}/parked").json()["records"]
    found = [(r["offset"], r["key_base64"], r["value_base64"]) for r in listed]
    assert found == [(4, "/w==", "dg=="), (9, "/w==", "dg==")]
    replayed = request(app, "POST", f"/subscriptions/{SUB_A}/parked/0/4/replay", {"key": "fixed"})
    assert replayed.status == 200 and replayed.json()["invocation_id"].startswith("inv_1")
    [(_, producer, [made])] = ingested
    assert producer.endswith("|tbad|0|replay@4") and made.offset == 4
    assert (made.request.target.key, made.request.input) == ("fixed", b"v")
    assert request(app, "DELETE", f"/subscriptions/{SUB_A}/parked/0/9").status == 202
    assert app.parked == [] and stored[-1] == []
    missing = request(app, "DELETE", f"/subscriptions/{SUB_A}/parked/0/9")
    assert missing.status == 404
    assert request(app, "GET", f"/subscriptions/{SUB_A}/parked/0/x").status == 405  # no GET of one record
    assert request(app, "DELETE", f"/subscriptions/{SUB_A}/parked/0/x").status == 400


def test_deleting_a_subscription_drops_its_parked_records_only(rec: Recorder) -> None:
    from restate.admin import parked_records
    from restate.kafka.definitions import ParkedRecord

    app = rec.app()
    for topic in ("ta", "tb"):
        request(app, "POST", "/subscriptions", {"source": f"kafka://my-cluster/{topic}", "sink": "service://KObj/add"})
    for sub in (SUB_A, SUB_B):
        asyncio.run(parked_records.park(app, ParkedRecord(sub, "t", 0, 1, "bad key", T0, b"\xff")))
    assert request(app, "DELETE", f"/subscriptions/{SUB_A}").status == 202
    assert [p.subscription for p in app.parked] == [SUB_B]


def test_a_change_refused_by_the_cluster_is_answered_as_a_schema_conflict_and_changes_nothing(rec: Recorder) -> None:
    from restate.cluster.node_link import KafkaConflict

    async def refused(registry: KafkaRegistry) -> None:  # another node's admin wrote this version first
        raise KafkaConflict(f"Kafka registry version {registry.version} was written by another node at the same time")

    app = rec.app()
    app.hooks.persist_kafka = refused
    body = {"source": "kafka://my-cluster/t1", "sink": "service://KSvc/raw"}
    reply = request(app, "POST", "/subscriptions", body)
    assert (reply.status, reply.json()) == (500, {"message": "Internal server error", "restate_code": None})
    assert app.kafka == KafkaRegistry() and rec.published == []  # not shown, not given to the Kafka process
    assert request(app, "GET", "/subscriptions").json() == {"subscriptions": []}
