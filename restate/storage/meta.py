"""The metadata store (owned by admin): the schema registry and cluster-wide settings."""

from __future__ import annotations

from pathlib import Path

import msgspec

from restate.schema import Schema
from restate.storage.db import Database
from restate.storage.keys import meta_key

_SCHEMA = meta_key("schema")
_NUM_PARTITIONS = meta_key("num_partitions")


class MetaStore:
    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)

    def load_schema(self) -> Schema:
        raw = self._db.get(_SCHEMA)
        return Schema() if raw is None else msgspec.msgpack.decode(raw, type=Schema)

    def store_schema(self, schema: Schema) -> None:
        self._db.write({_SCHEMA: msgspec.msgpack.encode(schema)})

    def num_partitions(self) -> int | None:
        raw = self._db.get(_NUM_PARTITIONS)
        return None if raw is None else int(raw)

    def set_num_partitions(self, count: int) -> None:
        self._db.write({_NUM_PARTITIONS: str(count).encode()})

    def close(self) -> None:
        self._db.close()
