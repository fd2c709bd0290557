"""The admin process: metadata store, schema publishing over the message bus, and the HTTP API (uvicorn)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
import uvloop

from restate import wire
from restate.actors import logs
from restate.actors.essential_tasks import cancel_and_wait
from restate.actors.on_demand import DemandSender
from restate.admin import kafka_state, parked_records
from restate.admin.app import AdminApp, AdminHooks
from restate.config import Config
from restate.ingress.bare_bad_request import BareBadRequestProtocol  # hyper's answer to what is not HTTP/1.1
from restate.ipc.node import Node, partition_name
from restate.ipc.partition_rpc import PartitionRpc
from restate.kafka.definitions import KafkaRegistry
from restate.schema import Schema
from restate.storage.meta import MetaStore

if TYPE_CHECKING:
    from restate.cluster.node_link import NodeLink

log = logging.getLogger(__name__)

NODE_NAME = "admin"
KAFKA_NODE = "kafka"
ACK_TIMEOUT_S = 5.0


class SchemaPublisher:
    """Pushes schema versions to peers and tracks their acknowledgements; answers GetSchema requests."""

    def __init__(self, node: Node, peers: Iterable[str], ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        self.node = node
        self.peers = list(peers)
        self.ack_timeout_s = ack_timeout_s
        self.acked: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def publish(self, schema: Schema) -> None:
        """Sends the schema to every peer, then waits (bounded) until each acknowledged its version."""
        update = wire.SchemaUpdate(schema)
        for peer in self.peers:
            self.node.send(peer, update)
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                async with self._changed:
                    await self._changed.wait_for(lambda: not self.missing(schema.version))
        except TimeoutError:
            log.warning("schema v%d not acknowledged by %s", schema.version, ", ".join(self.missing(schema.version)))

    def missing(self, version: int) -> list[str]:
        return [p for p in self.peers if self.acked.get(p, -1) < version]

    async def serve(
        self, current: Callable[[], Schema], on_answer: Callable[[wire.Message], bool] | None = None
    ) -> None:
        """The receive loop: GetSchema -> SchemaUpdate to the asker; SchemaAck -> record and wake waiters.

        Anything else is offered to `on_answer` (the partitions' answers to admin's requests)."""
        while True:
            sender, message = await self.node.recv()
            if on_answer is not None and on_answer(message):
                continue
            if isinstance(message, wire.GetSchema):
                self.node.send(sender, wire.SchemaUpdate(current()))
            elif isinstance(message, wire.SchemaAck):
                self.acked[sender] = max(self.acked.get(sender, -1), message.version)
                async with self._changed:
                    self._changed.notify_all()
            else:
                log.warning("admin: ignoring unexpected %s from %s", type(message).__name__, sender)


class KafkaPublisher:
    """Pushes the Kafka registry to the Kafka process (no acknowledgement: it keeps the highest version and
    asks again when it starts), and answers its GetKafkaRegistry. The supervisor runs that process only
    while a subscription exists: it is told so here (`demand`), when admin starts and on every change."""

    def __init__(self, node: Node, demand: DemandSender) -> None:
        self.node = node
        self.demand = demand

    def announce(self, registry: KafkaRegistry) -> None:
        self.demand.send(bool(registry.subscriptions))

    async def publish(self, registry: KafkaRegistry) -> None:
        self.node.send(KAFKA_NODE, wire.KafkaRegistryUpdate(registry))
        self.announce(registry)

    def answering(self, app: AdminApp, rpc: PartitionRpc) -> Callable[[wire.Message], bool]:
        """The admin node's handler of answers: the partitions' (rpc), then the Kafka process's requests."""

        def on_message(message: wire.Message) -> bool:
            if isinstance(message, wire.GetKafkaRegistry):
                self.node.send(KAFKA_NODE, wire.KafkaRegistryUpdate(app.kafka))
                return True
            if isinstance(message, wire.ParkRecord):
                app.spawn(self._park(app, message), "parking a Kafka record")
                return True
            return rpc.on_message(message)

        return on_message

    async def _park(self, app: AdminApp, message: wire.ParkRecord) -> None:
        await parked_records.park(app, message.record)  # durable, then answered
        self.node.send(KAFKA_NODE, wire.Done(message.request_id))


def peers_of(config: Config, num_partitions: int | None = None) -> list[str]:
    """Everybody who needs the schema: the ingress and every partition (the data directory's count wins)."""
    count = num_partitions or config.default_num_partitions
    peers = ["ingress", *(partition_name(i) for i in range(count))]
    if config.cluster is not None:  # the bus names its senders `<node>/<process>` in a cluster
        return [f"{config.cluster.node_name}/{peer}" for peer in peers]
    return peers


def run_admin(config: Config, sockets: list[socket.socket] | None = None, demand: Connection | None = None) -> None:
    """Main of the admin process; returns after SIGTERM/SIGINT once the server and the DB are closed.

    It serves on `sockets` when given (the supervisor's, already listening), else binds the address itself;
    it tells the supervisor over `demand` whether the Kafka process is needed (restate.actors.on_demand)."""
    logs.configure("admin")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_main(config, sockets, DemandSender(demand)))


def _schema_hooks(
    store: MetaStore, publisher: SchemaPublisher, link: NodeLink | None
) -> tuple[Callable[[Schema], Awaitable[None]], Callable[[Schema], Awaitable[None]]]:
    """How a schema change made here is stored (`persist`) and made visible (`publish`), alone or in a cluster."""

    async def persist(schema: Schema) -> None:
        if link is not None:  # the cluster's first: a conflicting change on another node is refused
            await link.publish_schema(schema)
        await asyncio.to_thread(store.store_schema, schema)

    async def publish(schema: Schema) -> None:
        await publisher.publish(schema)  # acknowledged by this node's ingress and partitions
        if link is not None:  # answered once every live node serves it (register here, call anywhere)
            await link.announce_adopted(schema.version)
            await link.wait_adopted_everywhere(schema.version)

    return persist, publish


def _kafka_hooks(
    store: MetaStore, kafka: KafkaPublisher, link: NodeLink | None
) -> tuple[Callable[[KafkaRegistry], Awaitable[None]], Callable[[KafkaRegistry], Awaitable[None]]]:
    """The Kafka registry's `persist` and `publish`: as the schema's, the cluster's first (a concurrent change on
    another node is refused) and answered once every live node's admin serves it (restate.cluster.node_link)."""

    async def persist(registry: KafkaRegistry) -> None:
        if link is not None:
            await link.publish_kafka(registry)
        await asyncio.to_thread(store.store_kafka, registry)

    async def publish(registry: KafkaRegistry) -> None:
        await kafka.publish(registry)
        if link is not None:
            from restate.cluster.node_link import KAFKA_ADOPTED

            await link.announce_adopted(registry.version, KAFKA_ADOPTED)
            await link.wait_adopted_everywhere(registry.version, what=KAFKA_ADOPTED)

    return persist, publish


def _adopt_kafka(app: AdminApp, store: MetaStore, kafka: KafkaPublisher) -> Callable[[KafkaRegistry], Awaitable[None]]:
    """How a Kafka registry version another node's admin wrote becomes this node's: stored, shown by this admin,
    and given to this node's Kafka process (started on demand), whose consumers join the subscriptions' groups."""

    async def adopt(registry: KafkaRegistry) -> None:
        async with app.lock:  # not interleaved with a change made here (which needs the newest version anyway)
            if registry.version <= app.kafka.version:
                return
            await asyncio.to_thread(store.store_kafka, registry)
            app.kafka = registry
            await kafka.publish(registry)
            gone = [p for p in app.parked if p.subscription not in registry.subscriptions]
            if gone:  # a subscription deleted elsewhere: the records this node parked for it go with it
                await kafka_state.commit_parked(app, [p for p in app.parked if p not in gone])

    return adopt


async def _main(config: Config, sockets: list[socket.socket] | None, demand: DemandSender) -> None:
    store = MetaStore(Path(config.base_dir) / "meta")
    node: Node | None = None
    tasks: list[asyncio.Task[None]] = []
    rpc: PartitionRpc | None = None
    link: NodeLink | None = None
    try:
        if config.cluster is None:
            node = Node(config.base_dir, NODE_NAME)
        else:
            from restate.cluster.cluster_config import bus_directory
            from restate.cluster.node_link import NodeLink

            node, link = Node(config.base_dir, NODE_NAME, bus_directory(config.cluster)), NodeLink(config.cluster)
        node.bind()
        num_partitions = store.num_partitions() or config.default_num_partitions
        publisher = SchemaPublisher(node, peers_of(config, num_partitions))
        rpc = PartitionRpc(node, num_partitions)

        kafka = KafkaPublisher(node, demand)
        persist, publish = _schema_hooks(store, publisher, link)
        persist_kafka, publish_kafka = _kafka_hooks(store, kafka, link)
        hooks = AdminHooks(
            persist=persist, publish=publish, partitions=rpc,
            persist_kafka=persist_kafka, publish_kafka=publish_kafka,
            persist_parked=lambda p: asyncio.to_thread(store.store_parked, p), ingest=rpc.ingest,
        )  # fmt: skip
        app = AdminApp(store.load_schema(), config, hooks)
        app.kafka = store.load_kafka()
        kafka.announce(app.kafka)  # the Kafka process is started (or not) as the stored subscriptions say
        app.parked = store.load_parked()
        kafka_state.count_parked(app.parked)
        tasks = [
            asyncio.create_task(publisher.serve(lambda: app.schema, kafka.answering(app, rpc))),
            asyncio.create_task(rpc.run_resends()),
        ]
        if link is not None:

            async def adopt(schema: Schema) -> None:  # another node's admin changed the schema
                await asyncio.to_thread(store.store_schema, schema)
                await publisher.publish(schema)  # acknowledged by this node's ingress and partitions ...
                app.schema = schema  # ... before this admin API shows it

            tasks.append(asyncio.create_task(link.register_node()))
            tasks.append(asyncio.create_task(link.route_to_leaders(rpc)))
            tasks.append(asyncio.create_task(link.adopt_schemas(lambda: app.schema, adopt)))
            tasks.append(asyncio.create_task(link.adopt_kafka(lambda: app.kafka, _adopt_kafka(app, store, kafka))))
        await _serve_http(app, config, sockets)
    finally:
        await cancel_and_wait(tasks)  # the etcd followers' tasks in a cluster: a lost cancellation must not hang
        if rpc is not None:
            rpc.fail_pending("admin is shutting down")
        if node is not None:
            node.close()
        if link is not None:
            await link.close()
        store.close()
        log.info("admin stopped")


async def _serve_http(app: AdminApp, config: Config, sockets: list[socket.socket] | None) -> None:
    host, port = config.host_port("admin")
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, loop="uvloop", http=BareBadRequestProtocol, ws="none", lifespan="off",
            access_log=False, log_level="warning", proxy_headers=False, server_header=False,
        )
    )  # fmt: skip

    # uvicorn swaps in its own handlers while serving and re-raises the signal afterwards, into
    # whatever handler was installed before: ours only asks the server to stop, so the DB gets closed.
    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    started = time.monotonic()
    await server.serve(sockets)
    log.info("admin HTTP server on %s:%d stopped after %.1fs", host, port, time.monotonic() - started)
