"""The metadata store (owned by admin): the schema registry and cluster-wide settings."""

from __future__ import annotations

from pathlib import Path

from restate.kafka.definitions import KafkaRegistry, ParkedRecord
from restate.schema import Schema
from restate.storage import codec, keys, meta_convert, upgrade
from restate.storage.db import Database
from restate.storage.records import SettingsRecord

# A row added without a store format step: a store written before it has no Kafka registry (an empty one).
KAFKA_KEY = keys.meta_key("kafka")
PARKED_KEY = keys.meta_key("kafka-parked")  # added the same way


class MetaStore:
    """`<base>/meta`, upgraded to the current store format on open. Admin's registry model goes in and out;
    what is stored is its storage-owned records (meta_convert)."""

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        try:
            upgrade.open_meta(self._db, str(path))
        except BaseException:
            self._db.close()
            raise

    def load_schema(self) -> Schema:
        raw = self._db.get(upgrade.SCHEMA_KEY)
        return Schema() if raw is None else meta_convert.schema(codec.decode_schema(raw))

    def store_schema(self, schema: Schema) -> None:
        self._db.write({upgrade.SCHEMA_KEY: codec.encode(meta_convert.schema_record(schema))})

    def load_kafka(self) -> KafkaRegistry:
        raw = self._db.get(KAFKA_KEY)
        return KafkaRegistry() if raw is None else meta_convert.kafka_registry(codec.decode_kafka_registry(raw))

    def store_kafka(self, registry: KafkaRegistry) -> None:
        self._db.write({KAFKA_KEY: codec.encode(meta_convert.kafka_registry_record(registry))})

    def load_parked(self) -> list[ParkedRecord]:
        raw = self._db.get(PARKED_KEY)
        return [] if raw is None else meta_convert.parked_records(codec.decode_parked_records(raw))

    def store_parked(self, records: list[ParkedRecord]) -> None:
        self._db.write({PARKED_KEY: codec.encode(meta_convert.parked_records_record(records))})

    def num_partitions(self) -> int | None:
        raw = self._db.get(upgrade.SETTINGS_KEY)
        return None if raw is None else codec.decode_settings(raw).num_partitions

    def set_num_partitions(self, count: int) -> None:
        self._db.write({upgrade.SETTINGS_KEY: codec.encode(SettingsRecord(num_partitions=count))})

    def close(self) -> None:
        self._db.close()
