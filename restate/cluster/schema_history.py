"""The cluster's shared metadata in etcd, one immutable key per version (the schema, the Kafka registry), so
that each node's admin adopts it and each replica applies an entry with exactly the schema version the
entry names (stored in the metadata store's own versioned formats)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end
from restate.kafka.definitions import KafkaRegistry
from restate.schema import Schema
from restate.storage import codec, meta_convert

log = logging.getLogger(__name__)

T = TypeVar("T")


class VersionHistory(Generic[T]):
    """`meta/<kind>/<version>`: written once per version by the admin that made it, never changed."""

    def __init__(
        self, etcd: Etcd, prefix: bytes, encode: Callable[[T], bytes], decode: Callable[[bytes], T],
        version_of: Callable[[T], int],
    ) -> None:  # fmt: skip
        self.etcd = etcd
        self.prefix = prefix
        self._encode, self._decode, self._version_of = encode, decode, version_of

    def _key(self, version: int) -> bytes:
        return self.prefix + f"{version:016x}".encode()

    async def publish(self, value: T) -> bool:
        """Writes a new version; False when another admin already wrote this version number (a concurrent
        change on another node: the caller adopts that one and its own change is refused)."""
        key, t = self._key(self._version_of(value)), self.etcd.txn
        data = self._encode(value)
        ok, answers = await self.etcd.transaction(
            compare=[t.create(key) == 0], success=[t.put(key, data)], failure=[t.get(key)]
        )
        return ok or (bool(answers[0]) and answers[0][0][0] == data)  # a retry of our own write

    async def get(self, version: int) -> T | None:
        found = await self.etcd.get(self._key(version))
        return None if found is None else self._decode(found.value)

    async def latest(self) -> tuple[T | None, int]:
        """The newest version and the etcd revision it was read at."""
        answer = await self.etcd.range(self.prefix, prefix_end(self.prefix), limit=1, descending=True)
        value = self._decode(answer.kvs[0].value) if answer.kvs else None
        return value, int(answer.header.revision)

    async def follow(self) -> AsyncIterator[T]:
        """The newest version now (if any), then every version written after it, for ever."""
        while True:
            value, revision = await self.latest()
            if value is not None:
                yield value
            watch = await self.etcd.watch(self.prefix, prefix_end(self.prefix), revision + 1)
            try:
                async for event in watch:
                    if event.kind == "PUT":
                        yield self._decode(event.kv.value)
            except Exception as exc:  # noqa: BLE001 - a broken watch: read the newest again
                log.info("%s watch failed (%s); reading again", self.prefix.decode(errors="replace"), exc)
            finally:
                await watch.cancel()


def _encode_schema(schema: Schema) -> bytes:
    return codec.encode(meta_convert.schema_record(schema))


def _decode_schema(data: bytes) -> Schema:
    return meta_convert.schema(codec.decode_schema(data))


class SchemaHistory(VersionHistory[Schema]):
    """`meta/schema/<version>`: deployments and services."""

    def __init__(self, etcd: Etcd, layout: Layout) -> None:
        super().__init__(etcd, layout.meta("schema/"), _encode_schema, _decode_schema, lambda s: s.version)


def _encode_kafka(registry: KafkaRegistry) -> bytes:
    return codec.encode(meta_convert.kafka_registry_record(registry))


def _decode_kafka(data: bytes) -> KafkaRegistry:
    return meta_convert.kafka_registry(codec.decode_kafka_registry(data))


class KafkaHistory(VersionHistory[KafkaRegistry]):
    """`meta/kafka/<version>`: the dynamic Kafka clusters and the subscriptions (static clusters are each
    node's configuration, as in single-node mode)."""

    def __init__(self, etcd: Etcd, layout: Layout) -> None:
        super().__init__(etcd, layout.meta("kafka/"), _encode_kafka, _decode_kafka, lambda r: r.version)


class AdoptedVersions:
    """`meta/<what>/<node>` (`adopted`: the schema, `kafka-adopted`: the Kafka registry): the newest version
    each node serves, so that a change made on one node is answered only once every live node serves it
    (read-your-writes across nodes: register on n1, call through n3)."""

    def __init__(self, etcd: Etcd, layout: Layout, what: str = "adopted") -> None:
        self.etcd = etcd
        self.prefix = layout.meta(f"{what}/")

    async def announce(self, node: str, version: int) -> None:
        await self.etcd.put(self.prefix + node.encode(), records.encode_int(version))

    async def versions(self) -> dict[str, int]:
        answer = await self.etcd.range(self.prefix, prefix_end(self.prefix))
        return {kv.key[len(self.prefix) :].decode(): records.decode_int(kv.value) for kv in answer.kvs}
