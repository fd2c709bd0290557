"""Where each partition's leader is, kept from a watch on etcd's partition table, as bus peer names."""

from __future__ import annotations

import logging
from collections.abc import Callable

from restate.cluster import etcd_records as records
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout, prefix_end

log = logging.getLogger(__name__)


class LeaderMap:
    """partition -> the bus name of its leader (`<node>/p<i>`); a partition without a leader is routed to
    this node's own replica, which drops what it gets: the sender re-sends once a leader is known."""

    def __init__(self, etcd: Etcd, layout: Layout, node_name: str, num_partitions: int) -> None:
        self.etcd = etcd
        self.layout = layout
        self.node_name = node_name
        self.num_partitions = num_partitions
        self.leaders: dict[int, str] = {}
        self.on_change: list[Callable[[int, str], None]] = []  # (partition, new peer)

    def peer(self, partition: int) -> str:
        return f"{self.leaders.get(partition, self.node_name)}/p{partition}"

    def leader_peer(self, partition: int) -> str | None:
        """The bus name of the partition's leader; None while nobody leads it."""
        node = self.leaders.get(partition)
        return None if node is None else f"{node}/p{partition}"

    def _set(self, partition: int, node: str | None) -> None:
        if node is None:
            self.leaders.pop(partition, None)
            return
        if self.leaders.get(partition) == node:
            return
        self.leaders[partition] = node
        peer = self.peer(partition)
        log.info("partition %d is led by %s", partition, node)
        for callback in self.on_change:
            callback(partition, peer)

    async def load(self) -> int:
        """Reads the whole table; the etcd revision it was read at."""
        prefix = self.layout.leaders_prefix()
        answer = await self.etcd.range(prefix, prefix_end(prefix))
        seen = set()
        for kv in answer.kvs:
            partition = int(kv.key[len(prefix) :])
            seen.add(partition)
            self._set(partition, records.decode(records.LeaderRecord, kv.value).node)
        for partition in set(self.leaders) - seen:
            self._set(partition, None)
        return int(answer.header.revision)

    async def follow(self) -> None:
        """Keeps the map current for ever (run it as a task)."""
        prefix = self.layout.leaders_prefix()
        while True:
            revision = await self.load()
            watch = await self.etcd.watch(prefix, prefix_end(prefix), revision + 1)
            try:
                async for event in watch:
                    partition = int(event.kv.key[len(prefix) :])
                    if event.kind == "PUT":
                        self._set(partition, records.decode(records.LeaderRecord, event.kv.value).node)
                    else:
                        self._set(partition, None)
            except Exception as exc:  # noqa: BLE001 - a broken watch: read the table again
                log.info("leader watch failed (%s); reading the table again", exc)
            finally:
                await watch.cancel()
