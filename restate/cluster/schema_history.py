"""Every schema version in etcd, so that each node's admin adopts it and each replica applies an entry with
exactly the schema version the entry names (stored in the metadata store's own versioned format)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end
from restate.schema import Schema
from restate.storage import codec, meta_convert

log = logging.getLogger(__name__)


def _encode(schema: Schema) -> bytes:
    return codec.encode(meta_convert.schema_record(schema))


def _decode(data: bytes) -> Schema:
    return meta_convert.schema(codec.decode_schema(data))


class SchemaHistory:
    """`meta/schema/<version>`: written once per version by the admin that made it, never changed."""

    def __init__(self, etcd: Etcd, layout: Layout) -> None:
        self.etcd = etcd
        self.prefix = layout.meta("schema/")

    def _key(self, version: int) -> bytes:
        return self.prefix + f"{version:016x}".encode()

    async def publish(self, schema: Schema) -> bool:
        """Writes a new version; False when another admin already wrote this version number (a concurrent
        change on another node: the caller adopts that one and its own change is refused)."""
        key, t = self._key(schema.version), self.etcd.txn
        data = _encode(schema)
        ok, answers = await self.etcd.transaction(
            compare=[t.create(key) == 0], success=[t.put(key, data)], failure=[t.get(key)]
        )
        return ok or (bool(answers[0]) and answers[0][0][0] == data)  # a retry of our own write

    async def get(self, version: int) -> Schema | None:
        found = await self.etcd.get(self._key(version))
        return None if found is None else _decode(found.value)

    async def latest(self) -> tuple[Schema | None, int]:
        """The newest version and the etcd revision it was read at."""
        answer = await self.etcd.range(self.prefix, prefix_end(self.prefix), limit=1, descending=True)
        schema = _decode(answer.kvs[0].value) if answer.kvs else None
        return schema, int(answer.header.revision)

    async def follow(self) -> AsyncIterator[Schema]:
        """The newest version now (if any), then every version written after it, for ever."""
        while True:
            schema, revision = await self.latest()
            if schema is not None:
                yield schema
            watch = await self.etcd.watch(self.prefix, prefix_end(self.prefix), revision + 1)
            try:
                async for event in watch:
                    if event.kind == "PUT":
                        yield _decode(event.kv.value)
            except Exception as exc:  # noqa: BLE001 - a broken watch: read the newest again
                log.info("schema watch failed (%s); reading again", exc)
            finally:
                await watch.cancel()


class AdoptedVersions:
    """`meta/adopted/<node>`: the newest schema version each node's ingress and partitions acknowledged, so
    that a change made on one node is answered only once every live node serves it (read-your-writes
    across nodes: register on n1, call through n3)."""

    def __init__(self, etcd: Etcd, layout: Layout) -> None:
        self.etcd = etcd
        self.prefix = layout.meta("adopted/")

    async def announce(self, node: str, version: int) -> None:
        await self.etcd.put(self.prefix + node.encode(), records.encode_int(version))

    async def versions(self) -> dict[str, int]:
        answer = await self.etcd.range(self.prefix, prefix_end(self.prefix))
        return {kv.key[len(self.prefix) :].decode(): records.decode_int(kv.value) for kv in answer.kvs}
