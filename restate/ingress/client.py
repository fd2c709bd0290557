"""The ingress's link to admin and the partitions over ZeroMQ: the schema, and requests awaiting answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from restate import wire
from restate.actors.transport import Node, partition_name
from restate.ids import partition_for
from restate.schema import Schema
from restate.wire import Accepted, GetSchema, InvocationDone, InvocationRequest, Invoke, SchemaAck, SchemaUpdate

log = logging.getLogger(__name__)

Answer = Accepted | InvocationDone


class _Pending:
    """One Invoke in flight: its encoded message (re-sent as is) and the future its caller awaits."""

    __slots__ = ("future", "peer", "payload", "send", "sent_at")

    def __init__(self, future: asyncio.Future[Answer], peer: str, payload: bytes, send: bool, sent_at: float):
        self.future = future
        self.peer = peer
        self.payload = payload
        self.send = send
        self.sent_at = sent_at


class PartitionClient:
    """Owns the transport node "ingress": routes Invokes to partitions and resolves their answers.

    Protocol, as the partitions implement it:
    1. Every Invoke gets `Accepted` once the invocation is durable (calls too), and calls later
       get `InvocationDone`. An Invoke without `Accepted` after `resend_after_s` is sent again,
       unchanged (same request and invocation id: the partition treats the duplicate as an attach),
       so a partition that restarts loses nothing.
    2. Request ids start from the wall clock in microseconds, so answers meant for a previous
       incarnation of the ingress cannot match a request of this one. Unknown ids are ignored.
    3. `GetSchema` goes to admin on start and every `schema_retry_s` until a `SchemaUpdate`
       arrives; every update is acknowledged to its sender and the highest version is kept.
    """

    def __init__(
        self,
        base_dir: str | Path,
        num_partitions: int,
        *,
        resend_after_s: float = 1.0,
        schema_retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "ingress",
    ) -> None:
        self._node = Node(base_dir, name)
        self._num_partitions = num_partitions
        self._resend_after = resend_after_s
        self._schema_retry = schema_retry_s
        self._clock = clock
        self._schema: Schema | None = None
        self._schema_asked_at = 0.0
        self._pending: dict[int, _Pending] = {}
        # The subset still waiting for Accepted, in the order they were last sent.
        self._unaccepted: dict[int, _Pending] = {}
        self._next_request_id = time.time_ns() // 1000
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.schema_received = asyncio.Event()

    @property
    def schema(self) -> Schema | None:
        return self._schema

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Binds the node, asks admin for the schema and starts the receive and resend loops."""
        self._node.bind()
        self._ask_schema(self._clock())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive_loop()), loop.create_task(self._tick_loop())]

    async def close(self) -> None:
        """Stops the loops, fails every pending request (its caller answers 503) and closes the node."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.fail_pending()
        self._node.close()

    def fail_pending(self, reason: str = "the ingress is shutting down") -> None:
        """Fails every request still waiting (their callers answer 503); new requests are unaffected."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError(reason))
        self._pending.clear()
        self._unaccepted.clear()

    # --- requests ------------------------------------------------------------------------------------------

    async def call(self, request: InvocationRequest) -> InvocationDone:
        answer = await self._invoke(request, send=False)
        assert isinstance(answer, InvocationDone)
        return answer

    async def send(self, request: InvocationRequest) -> Accepted:
        answer = await self._invoke(request, send=True)
        assert isinstance(answer, Accepted)
        return answer

    async def _invoke(self, request: InvocationRequest, send: bool) -> Answer:
        request_id = self._next_request_id
        self._next_request_id = request_id + 1
        partition_key = int.from_bytes(request.invocation_id[:8], "big")
        peer = partition_name(partition_for(partition_key, self._num_partitions))
        payload = wire.encode(Invoke(request_id, request, send))
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        pending = _Pending(future, peer, payload, send, self._clock())
        self._pending[request_id] = pending
        self._unaccepted[request_id] = pending
        self._node.send_raw(peer, payload)
        try:
            return await future
        finally:  # answered, failed, or the HTTP request went away
            self._pending.pop(request_id, None)
            self._unaccepted.pop(request_id, None)

    # --- incoming ------------------------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        node = self._node
        while True:
            sender, message = await node.recv()
            self._on_message(sender, message)
            while (item := node.recv_nowait()) is not None:  # drain without a future per message
                self._on_message(*item)

    def _on_message(self, sender: str, message: wire.Message) -> None:
        match message:
            case Accepted(request_id=request_id):
                pending = self._pending.get(request_id)
                if pending is None:
                    return
                self._unaccepted.pop(request_id, None)
                if pending.send:
                    del self._pending[request_id]
                    _resolve(pending.future, message)
            case InvocationDone(request_id=request_id):
                pending = self._pending.pop(request_id, None)
                if pending is None:
                    return
                self._unaccepted.pop(request_id, None)
                # A send answered with its outcome (its Accepted got lost): it was accepted.
                answer = Accepted(request_id, message.invocation_id) if pending.send else message
                _resolve(pending.future, answer)
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
        """Re-sends what is overdue: GetSchema until a schema arrived, Invokes without Accepted."""
        if self._schema is None and now - self._schema_asked_at >= self._schema_retry:
            self._ask_schema(now)
        deadline = now - self._resend_after
        unaccepted = self._unaccepted
        while unaccepted:
            request_id, pending = next(iter(unaccepted.items()))
            if pending.sent_at > deadline:
                break
            del unaccepted[request_id]
            pending.sent_at = now
            unaccepted[request_id] = pending
            log.debug("re-sending request %d to %s", request_id, pending.peer)
            self._node.send_raw(pending.peer, pending.payload)

    def _ask_schema(self, now: float) -> None:
        self._schema_asked_at = now
        self._node.send("admin", GetSchema())


def _resolve(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():
        future.set_result(answer)
