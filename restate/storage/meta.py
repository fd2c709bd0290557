"""The metadata store (owned by admin): the schema registry and cluster-wide settings."""

from __future__ import annotations

from pathlib import Path

from restate.schema import Schema
from restate.storage import codec, meta_convert, upgrade
from restate.storage.db import Database
from restate.storage.records import SettingsRecord


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

    def num_partitions(self) -> int | None:
        raw = self._db.get(upgrade.SETTINGS_KEY)
        return None if raw is None else codec.decode_settings(raw).num_partitions

    def set_num_partitions(self, count: int) -> None:
        self._db.write({upgrade.SETTINGS_KEY: codec.encode(SettingsRecord(num_partitions=count))})

    def close(self) -> None:
        self._db.close()
