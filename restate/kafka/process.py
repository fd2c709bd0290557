"""The Kafka process: the registry from admin, one consumer per subscription, records into the partitions.

The supervisor runs it only while a subscription exists (admin tells it, restate.actors.on_demand), stops
it with SIGTERM when the last one is deleted, and restarts it when it dies; a restart re-reads from the
committed offsets, which the partitions deduplicate."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import uvloop

from restate import wire
from restate.actors import logs
from restate.actors.essential_tasks import cancel_and_wait
from restate.config import Config
from restate.ipc.node import Node
from restate.ipc.partition_rpc import PartitionRpc
from restate.kafka.consumer import SubscriptionConsumer
from restate.kafka.definitions import KafkaCluster, KafkaRegistry, ParkedRecord, Subscription
from restate.kafka.record_invocation import KafkaRecord
from restate.tracing import exporter as tracing_exporter

log = logging.getLogger(__name__)

NODE_NAME = "kafka"
REGISTRY_RETRY_S = 1.0
PARK_RESEND_S = 1.0
STOP_WAIT_S = 5.0  # within the supervisor's grace period (10 s)


def run_kafka(config: Config) -> None:
    """Main of the Kafka process; returns after SIGTERM/SIGINT once every consumer closed (offsets committed)."""
    logs.configure(NODE_NAME)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(KafkaIngress(config).main())


class KafkaIngress:
    """Keeps one running consumer per subscription whose cluster exists, as the registry says."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry: KafkaRegistry | None = None
        self.running: dict[str, tuple[SubscriptionConsumer, asyncio.Task[None]]] = {}
        if config.cluster is None:
            self.node = Node(config.base_dir, NODE_NAME)
        else:  # the partitions' leaders may be on other nodes: the cluster's bus, as the ingress's
            from restate.cluster.cluster_config import bus_directory

            self.node = Node(config.base_dir, NODE_NAME, bus_directory(config.cluster))
        self.rpc = PartitionRpc(self.node, config.default_num_partitions)
        self.tracer = tracing_exporter.setup(config, NODE_NAME)  # None: tracing is off
        self._stop = asyncio.Event()
        self._parks: dict[int, asyncio.Future[None]] = {}  # park requests to admin awaiting its Done
        self._next_park_id = time.time_ns()  # never one of the partition requests' ids (microseconds)

    def clusters(self) -> dict[str, KafkaCluster]:
        found = {n: KafkaCluster(n, dict(p), static=True) for n, p in self.config.kafka_clusters.items()}
        if self.registry is not None:
            for name, cluster in self.registry.clusters.items():
                found.setdefault(name, cluster)
        return found

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        self.node.bind()
        tasks = [loop.create_task(self._receive()), loop.create_task(self.rpc.run_resends()),
                 loop.create_task(self._ask_registry())]  # fmt: skip
        if self.config.cluster is not None:  # requests go to each partition's current leader
            from restate.cluster.node_link import NodeLink

            tasks.append(loop.create_task(NodeLink(self.config.cluster).route_to_leaders(self.rpc)))
        try:
            await self._stop.wait()
        finally:
            for consumer, _ in self.running.values():
                consumer.stop()
            consuming = [task for _, task in self.running.values()]
            if consuming:
                # A batch waiting for a partition that is down would hold the stop for ever: after a while it
                # is cancelled (its offsets were not stored: Kafka re-delivers it, the partitions dedup it).
                _, late = await asyncio.wait(consuming, timeout=STOP_WAIT_S)
                for task in late:
                    task.cancel()
                await asyncio.gather(*consuming, return_exceptions=True)
            await cancel_and_wait(tasks)
            self.rpc.fail_pending("the kafka process is shutting down")
            self.node.close()
            if self.tracer is not None:
                self.tracer.shutdown()
            log.info("kafka stopped")

    async def _ask_registry(self) -> None:
        while self.registry is None:
            self.node.send("admin", wire.GetKafkaRegistry())
            await asyncio.sleep(REGISTRY_RETRY_S)

    async def _receive(self) -> None:
        while True:
            _, message = await self.node.recv()
            if isinstance(message, wire.Done) and message.request_id in self._parks:
                future = self._parks[message.request_id]
                if not future.done():
                    future.set_result(None)
                continue
            if self.rpc.on_message(message):
                continue
            if isinstance(message, wire.KafkaRegistryUpdate):
                if self.registry is None or message.registry.version >= self.registry.version:
                    self.registry = message.registry
                    self.reconcile()

    def reconcile(self) -> None:
        """Stops the consumers of subscriptions gone or changed (or orphaned), starts the missing ones."""
        assert self.registry is not None
        clusters = self.clusters()
        wanted: dict[str, tuple[Subscription, KafkaCluster]] = {}
        for sub in self.registry.subscriptions.values():
            cluster = clusters.get(sub.cluster)
            if cluster is None:
                log.warning("KafkaCluster '%s' not found for subscription %s. Configured Kafka clusters: %s",
                            sub.cluster, sub.id, list(clusters))  # fmt: skip
                continue
            wanted[sub.id] = (sub, cluster)
        for sub_id, (consumer, _task) in list(self.running.items()):
            if wanted.get(sub_id) != (consumer.sub, consumer.cluster):
                consumer.stop()
                del self.running[sub_id]
        loop = asyncio.get_running_loop()
        for sub_id, (sub, cluster) in wanted.items():
            if sub_id not in self.running:
                consumer = SubscriptionConsumer(
                    sub, cluster, self.rpc.ingest, self.park, self.rpc.num_partitions, self.tracer
                )
                self.running[sub_id] = (consumer, loop.create_task(consumer.run()))

    async def park(self, sub: Subscription, record: KafkaRecord, reason: str) -> None:
        """Stores the record with admin (re-sent until answered): only then may its offset be committed."""
        now_ms = time.time_ns() // 1_000_000
        parked = ParkedRecord(sub.id, record.topic, record.partition, record.offset, reason, now_ms, record.key,
                              record.value, record.timestamp_ms, list(record.headers))  # fmt: skip
        log.error("subscription %s: parking record %s/%d@%d: %s", sub.id, record.topic, record.partition,
                  record.offset, reason)  # fmt: skip
        request_id = self._next_park_id
        self._next_park_id += 1
        answered = self._parks[request_id] = asyncio.get_running_loop().create_future()
        try:
            while True:
                self.node.send("admin", wire.ParkRecord(request_id, parked))
                try:
                    await asyncio.wait_for(asyncio.shield(answered), PARK_RESEND_S)
                    return
                except TimeoutError:
                    continue  # admin restarting: the same request again (stored once)
        finally:
            self._parks.pop(request_id, None)
