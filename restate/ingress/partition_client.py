"""The ingress's link to admin and the partitions over ZeroMQ: the schema, and requests awaiting answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from restate import wire
from restate.actors.essential_tasks import cancel_and_wait
from restate.config import ClusterConfig
from restate.ipc.node import Node
from restate.ipc.partition_rpc import OutputAnswer, PartitionRpc
from restate.schema import Schema
from restate.wire import Accepted, GetSchema, InvocationDone, InvocationRequest, Outcome, SchemaAck, SchemaUpdate

log = logging.getLogger(__name__)


class PartitionClient:
    """Owns the transport node "ingress": the schema from admin, and requests to the partitions.

    Requests (see `restate.ipc.partition_rpc.PartitionRpc` for the re-send protocol):
    1. `call` / `send`: an Invoke, answered with `Accepted` once durable and, for calls, with
       `InvocationDone`. Re-sent unchanged until accepted.
    2. `output`: attach (`wait=True`) or get the output now; `resolve_awakeable`: complete an awakeable.
    3. `GetSchema` goes to admin on start and every `schema_retry_s` until a `SchemaUpdate`
       arrives; every update is acknowledged to its sender and the highest version is kept.
    """

    def __init__(
        self,
        base_dir: str | Path,
        num_partitions: int,
        *,
        resend_after_s: float = 0.25,
        max_resend_s: float = 5.0,
        schema_retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "ingress",
        cluster: ClusterConfig | None = None,
        max_unacked_per_partition: int | None = None,
    ) -> None:
        self._cluster = cluster
        if cluster is None:
            self._node = Node(base_dir, name)
        else:
            from restate.cluster.cluster_config import bus_directory

            self._node = Node(base_dir, name, bus_directory(cluster))
        self._rpc = PartitionRpc(
            self._node,
            num_partitions,
            resend_after_s=resend_after_s,
            max_resend_s=max_resend_s,
            clock=clock,
            max_unacked_per_partition=max_unacked_per_partition or None,
        )
        self._resend_after = resend_after_s
        self._schema_retry = schema_retry_s
        self._clock = clock
        self._schema: Schema | None = None
        self._schema_asked_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.schema_received = asyncio.Event()

    @property
    def schema(self) -> Schema | None:
        return self._schema

    @property
    def in_flight(self) -> int:
        return self._rpc.in_flight

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Binds the node, asks admin for the schema and starts the receive and resend loops."""
        self._node.bind()
        self._ask_schema(self._clock())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive_loop()), loop.create_task(self._tick_loop())]
        if self._cluster is not None:  # requests go to each partition's leader, wherever it is
            from restate.cluster.node_link import NodeLink

            self._tasks.append(loop.create_task(NodeLink(self._cluster).route_to_leaders(self._rpc)))

    async def close(self) -> None:
        """Stops the loops, fails every pending request (its caller answers 503) and closes the node."""
        if self._closed:
            return
        self._closed = True
        await cancel_and_wait(self._tasks)
        self._tasks = []
        self.fail_pending()
        self._node.close()

    def fail_pending(self, reason: str = "the ingress is shutting down") -> None:
        """Fails every request still waiting (their callers answer 503); new requests are unaffected."""
        self._rpc.fail_pending(reason)

    # --- requests ------------------------------------------------------------------------------------------

    async def call(self, request: InvocationRequest) -> InvocationDone:
        """Creates (or attaches to) the invocation and waits for its outcome."""
        return await self._rpc.call(request)

    async def send(self, request: InvocationRequest) -> Accepted:
        """Creates the invocation and returns once it is durable."""
        return await self._rpc.send(request)

    async def output(self, invocation_id: bytes, wait: bool) -> OutputAnswer:
        """Attach (`wait=True`: waits for completion) or get the output now: InvocationDone, NotReady, NotFound."""
        return await self._rpc.output(invocation_id, wait)

    async def resolve_awakeable(self, invocation_id: bytes, signal_idx: int, outcome: Outcome) -> None:
        """Completes an awakeable; returns once the partition made the completion durable."""
        await self._rpc.resolve_awakeable(invocation_id, signal_idx, outcome)

    # --- incoming ------------------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        node = self._node
        while True:
            sender, message = await node.recv()
            self._on_message(sender, message)
            while (item := node.recv_nowait()) is not None:  # drain without a future per message
                self._on_message(*item)

    def _on_message(self, sender: str, message: wire.Message) -> None:
        if self._rpc.on_message(message):
            return
        match message:
            case SchemaUpdate(schema=schema):
                if self._schema is None or schema.version > self._schema.version:
                    self._schema = schema
                    log.info("schema version %d (%d services)", schema.version, len(schema.services))
                self.schema_received.set()
                self._node.send(sender, SchemaAck(schema.version))
            case _:
                log.debug("ignoring %s from %s", type(message).__name__, sender)

    # --- timers --------------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        interval = min(self._resend_after, self._schema_retry) / 4
        while True:
            await asyncio.sleep(interval)
            self.tick(self._clock())

    def tick(self, now: float) -> None:
        """Re-sends what is overdue: GetSchema until a schema arrived, requests without an answer."""
        if self._schema is None and now - self._schema_asked_at >= self._schema_retry:
            self._ask_schema(now)
        self._rpc.tick(now)

    def _ask_schema(self, now: float) -> None:
        self._schema_asked_at = now
        self._node.send("admin", GetSchema())
