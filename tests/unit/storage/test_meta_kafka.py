"""The Kafka registry (clusters and subscriptions) in the metadata store: its own record, field by field."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from restate.kafka import definitions as k
from restate.storage import codec, keys, meta_convert
from restate.storage import records as r
from restate.storage.db import Database
from restate.storage.meta import MetaStore
from tests.unit.storage import samples

COUNTERPARTS: list[tuple[type[msgspec.Struct], type[msgspec.Struct], set[str]]] = [
    (k.KafkaRegistry, r.KafkaRegistryRecord, set()),
    (k.KafkaCluster, r.KafkaClusterRecord, {"static"}),  # static clusters come from the config, never stored
    (k.Subscription, r.SubscriptionRecord, set()),
]


@pytest.mark.parametrize("model,record,unstored", COUNTERPARTS, ids=[m.__name__ for m, _, _ in COUNTERPARTS])
def test_every_field_of_the_kafka_model_has_a_stored_counterpart(
    model: type[msgspec.Struct], record: type[msgspec.Struct], unstored: set[str]
) -> None:
    assert set(model.__struct_fields__) - unstored == set(record.__struct_fields__)


def test_the_kafka_registry_converts_both_ways() -> None:
    record = samples.kafka_registry_record()
    assert meta_convert.kafka_registry_record(samples.kafka_registry()) == record
    assert codec.encode(meta_convert.kafka_registry_record(samples.kafka_registry())) == codec.encode(record)
    assert meta_convert.kafka_registry(record) == samples.kafka_registry()


def test_the_kafka_registry_survives_a_reopen_with_secrets_in_clear(tmp_path: Path) -> None:
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_kafka() == k.KafkaRegistry()  # a store without the row: empty
        meta.store_kafka(samples.kafka_registry())
    finally:
        meta.close()
    meta = MetaStore(tmp_path / "meta")
    try:
        loaded = meta.load_kafka()
    finally:
        meta.close()
    assert loaded == samples.kafka_registry()
    assert loaded.clusters["dyn"].properties["sasl.password"] == "s3cret"  # redaction is the API's, not storage's
    db = Database(tmp_path / "meta")
    try:
        stored = db.get(keys.meta_key("kafka"))
    finally:
        db.close()
    assert stored == codec.encode(samples.kafka_registry_record())  # the golden bytes of kafka.v1.registry


def test_parked_records_survive_a_reopen_field_by_field(tmp_path: Path) -> None:
    assert set(k.ParkedRecord.__struct_fields__) == set(r.ParkedRecordRecord.__struct_fields__)
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_parked() == []
        meta.store_parked(samples.parked_records())
    finally:
        meta.close()
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_parked() == samples.parked_records()  # the bytes of the key and value as they came
    finally:
        meta.close()
