"""The metadata store (owned by admin): the schema registry and cluster-wide settings."""

from __future__ import annotations

from pathlib import Path

from restate.schema import Schema
from restate.storage import codec, upgrade
from restate.storage.db import Database
from restate.storage.records import SchemaRecord, SettingsRecord


class MetaStore:
    """`<base>/meta`, upgraded to the current store format on open."""

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        try:
            upgrade.open_meta(self._db, str(path))
        except BaseException:
            self._db.close()
            raise

    def load_schema(self) -> Schema:
        raw = self._db.get(upgrade.SCHEMA_KEY)
        return Schema() if raw is None else codec.decode_schema(raw).schema

    def store_schema(self, schema: Schema) -> None:
        self._db.write({upgrade.SCHEMA_KEY: codec.encode(SchemaRecord(schema=schema))})

    def num_partitions(self) -> int | None:
        raw = self._db.get(upgrade.SETTINGS_KEY)
        return None if raw is None else codec.decode_settings(raw).num_partitions

    def set_num_partitions(self, count: int) -> None:
        self._db.write({upgrade.SETTINGS_KEY: codec.encode(SettingsRecord(num_partitions=count))})

    def close(self) -> None:
        self._db.close()
