"""Requests from a node (the ingress, admin) to the partitions: ids, routing, re-sends and answer correlation.

The client half of the request/answer protocol whose server half is the partition's state machine
(restate.partition.client_requests and the Invoke handling): both ingress and admin use it, neither owns it."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable

from restate import wire
from restate.ids import partition_for, partition_key_for
from restate.ipc.node import Node, partition_name
from restate.wire import (
    Accepted,
    CommandResult,
    Done,
    Ingest,
    IngestRecord,
    InvocationDone,
    InvocationOp,
    InvocationRequest,
    Invoke,
    ManageInvocation,
    NotFound,
    NotReady,
    Outcome,
    OutputRequest,
    ReplaceObjectState,
    ResolveAwakeable,
)

log = logging.getLogger(__name__)

Answer = Accepted | InvocationDone | NotReady | NotFound | Done | CommandResult
ANSWER_TYPES = (Accepted, InvocationDone, NotReady, NotFound, Done, CommandResult)
OutputAnswer = InvocationDone | NotReady | NotFound


class Overloaded(Exception):
    """The partition has too many requests it did not acknowledge yet: the request was not sent."""


class _Pending:
    """One request in flight: its encoded message (re-sent as is) and the future its caller awaits."""

    __slots__ = ("acked", "due_at", "final", "future", "interval", "payload", "peer", "sent_at")

    def __init__(
        self,
        future: asyncio.Future[Answer],
        peer: str,
        payload: bytes,
        final: tuple[type, ...],
        sent_at: float,
        interval: float,
    ) -> None:
        self.future = future
        self.peer = peer
        self.payload = payload
        self.final = final  # the answer types that complete the request; the others only acknowledge it
        self.acked = False
        self.sent_at = sent_at
        self.interval = interval
        self.due_at = sent_at + interval  # of its entry in the re-send heap; other entries are stale


class PartitionRpc:
    """Sends requests to the partition owning their key and resolves each with its answer.

    Protocol, as the partitions implement it:
    1. Every request gets exactly one final answer, sent to the requesting node once its effect is
       durable: `Accepted` for a send, `InvocationDone` for a call. A call is acknowledged with
       `Accepted` only when it is re-sent while running, which stops further re-sends.
    2. A request neither answered nor acknowledged is re-sent unchanged (same request id) after
       `resend_after_s` (short: a request sent into a partition that just died is lost with its
       connection, and this bounds the recovery), then with doubling intervals capped at
       `max_resend_s`: the partitions treat duplicates idempotently, so a restart loses nothing.
       An attach (OutputRequest with wait) is never acknowledged, so it keeps being re-sent at the
       cap until it completes.
    3. When a partition announces a restart (PeerReady) or gets a new leader, every request to it that
       is not answered yet is re-sent at once, acknowledged calls included: the answer they wait for
       may have died with the process that owed it (a re-sent call for a completed invocation gets its
       outcome replayed).
    4. Request ids start from the wall clock in microseconds, so answers meant for a previous
       incarnation of the node cannot match a request of this one. Unknown ids are ignored.
    """

    def __init__(
        self,
        node: Node,
        num_partitions: int,
        *,
        resend_after_s: float = 0.25,
        max_resend_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        max_unacked_per_partition: int | None = None,
    ) -> None:
        """max_unacked_per_partition: requests to one partition that are neither answered nor acknowledged
        (not durable yet); beyond it a new request raises Overloaded instead of queueing without bound
        (a saturated or restarting partition)."""
        self._node = node
        self._max_unacked = max_unacked_per_partition
        self._unacked: dict[str, int] = {}  # peer -> requests neither answered nor acknowledged
        self._num_partitions = num_partitions
        self._resend_after = resend_after_s
        self._max_resend = max(max_resend_s, resend_after_s)
        self._clock = clock
        self._pending: dict[int, _Pending] = {}
        self._due: list[tuple[float, int]] = []  # (next re-send time, request id); stale entries are skipped
        self._next_request_id = time.time_ns() // 1000
        # The bus peer serving a partition: this node's process, or in a cluster its current leader.
        self.route: Callable[[int], str] = partition_name

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def num_partitions(self) -> int:
        return self._num_partitions

    def peer_for(self, partition_key: int) -> str:
        return self.route(partition_for(partition_key, self._num_partitions))

    # --- the requests ------------------------------------------------------------------------------------

    async def call(self, request: InvocationRequest) -> InvocationDone:
        """Creates (or attaches to) the invocation and waits for its outcome."""
        answer = await self._request(
            _key_of(request.invocation_id), lambda rid: Invoke(rid, request, False), (InvocationDone,)
        )
        assert isinstance(answer, InvocationDone)
        return answer

    async def send(self, request: InvocationRequest) -> Accepted:
        """Creates the invocation and returns once it is durable."""
        answer = await self._request(
            _key_of(request.invocation_id), lambda rid: Invoke(rid, request, True), (Accepted, InvocationDone)
        )
        if isinstance(answer, InvocationDone):  # its Accepted got lost, the outcome came: it was accepted
            return Accepted(answer.request_id, answer.invocation_id)
        assert isinstance(answer, Accepted)
        return answer

    async def ingest(self, partition_key: int, producer: str, records: list[IngestRecord]) -> Done:
        """Kafka records for the partition owning `partition_key`; returns once they are durable invocations."""
        answer = await self._request(partition_key, lambda rid: Ingest(rid, producer, records), (Done,))
        assert isinstance(answer, Done)
        return answer

    async def output(self, invocation_id: bytes, wait: bool) -> OutputAnswer:
        """The outcome of an invocation: InvocationDone, NotReady (only without `wait`) or NotFound."""
        answer = await self._request(
            _key_of(invocation_id),
            lambda rid: OutputRequest(rid, invocation_id, wait),
            (InvocationDone, NotReady, NotFound),
        )
        assert isinstance(answer, InvocationDone | NotReady | NotFound)
        return answer

    async def resolve_awakeable(self, invocation_id: bytes, signal_idx: int, outcome: Outcome) -> Done:
        """Completes an awakeable; returns once the completion is durable (also for unknown invocations)."""
        answer = await self._request(
            _key_of(invocation_id), lambda rid: ResolveAwakeable(rid, invocation_id, signal_idx, outcome), (Done,)
        )
        assert isinstance(answer, Done)
        return answer

    async def manage(self, invocation_id: bytes, op: InvocationOp) -> CommandResult:
        """Runs an admin command (cancel, kill, pause, resume, purge, purge_journal) on an invocation."""
        answer = await self._request(
            _key_of(invocation_id), lambda rid: ManageInvocation(rid, invocation_id, op), (CommandResult,)
        )
        assert isinstance(answer, CommandResult)
        return answer

    async def replace_state(
        self, service: str, key: str, new_state: list[tuple[bytes, bytes]], version: str | None = None
    ) -> Done:
        """Replaces the whole state of one object key, on the partition owning the key."""
        answer = await self._request(
            partition_key_for(key), lambda rid: ReplaceObjectState(rid, service, key, new_state, version), (Done,)
        )
        assert isinstance(answer, Done)
        return answer

    async def _request(
        self, partition_key: int, build: Callable[[int], wire.Message], final: tuple[type, ...]
    ) -> Answer:
        peer = self.peer_for(partition_key)
        unacked = self._unacked.get(peer, 0)
        if self._max_unacked is not None and unacked >= self._max_unacked:
            raise Overloaded(f"{peer} has {unacked} requests not yet durable")
        request_id = self._next_request_id
        self._next_request_id = request_id + 1
        payload = wire.encode(build(request_id))
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        now = self._clock()
        pending = self._pending[request_id] = _Pending(future, peer, payload, final, now, self._resend_after)
        self._unacked[peer] = unacked + 1
        try:
            heapq.heappush(self._due, (pending.due_at, request_id))
            self._node.send_raw(peer, payload)
            return await future
        finally:  # answered, failed, or the caller went away
            gone = self._pending.pop(request_id, None)
            if gone is not None and not gone.acked:
                self._settled(gone)

    # --- answers and re-sends ---------------------------------------------------------------------------

    def on_message(self, message: wire.Message) -> bool:
        """Resolves the request an answer belongs to; re-sends to a partition that announced its restart.
        False when the message is neither."""
        if isinstance(message, wire.PeerReady):
            self.resend_to(message.name, self._clock())
            return True
        if not isinstance(message, ANSWER_TYPES):
            return False
        pending = self._pending.get(message.request_id)
        if pending is None:
            return True  # late, duplicate, or meant for a previous incarnation
        if isinstance(message, pending.final):
            del self._pending[message.request_id]
            if not pending.acked:
                self._settled(pending)
            if not pending.future.done():
                pending.future.set_result(message)
        elif not pending.acked:
            pending.acked = True  # durable: no more re-sends; the final answer follows
            self._settled(pending)
        return True

    def _settled(self, pending: _Pending) -> None:
        """A request stops counting against its partition's backlog (acknowledged, answered or gone)."""
        pending.acked = True
        self._unacked[pending.peer] -= 1

    def tick(self, now: float) -> None:
        """Re-sends every request that is overdue and still neither answered nor acknowledged."""
        due = self._due
        while due and due[0][0] <= now:
            when, request_id = heapq.heappop(due)
            pending = self._pending.get(request_id)
            if pending is None or pending.acked or when != pending.due_at:
                continue
            pending.sent_at = now
            pending.interval = min(pending.interval * 2, self._max_resend)
            pending.due_at = now + pending.interval
            heapq.heappush(due, (pending.due_at, request_id))
            log.debug("re-sending request %d to %s", request_id, pending.peer)
            self._node.send_raw(pending.peer, pending.payload)

    def resend_to(self, peer: str, now: float) -> None:
        """Re-sends at once every request to `peer` that is not answered yet, acknowledged ones included.

        `peer` is a partition that (re)started or a new leader: an acknowledged call's final answer may have
        been lost with the process that owed it (it died between making the outcome durable and sending
        it, or a new leader applied that outcome while catching up, when no answers are sent). The re-send
        is idempotent: a running invocation acknowledges it again, a completed one replays its outcome."""
        count = 0
        for request_id, pending in self._pending.items():
            if pending.peer != peer:
                continue
            if not pending.acked:  # acknowledged ones stay off the re-send timers
                pending.sent_at = now
                pending.interval = self._resend_after
                pending.due_at = now + pending.interval
                heapq.heappush(self._due, (pending.due_at, request_id))  # its older entry is now stale
            self._node.send_raw(peer, pending.payload)
            count += 1
        if count:
            log.info("%s is back: re-sent %d requests", peer, count)

    def retarget(self, partition: int, peer: str) -> None:
        """Cluster mode: the partition has a new leader; what is pending for it is sent there now."""
        process = partition_name(partition)
        now = self._clock()
        for pending in self._pending.values():
            if pending.peer.rpartition("/")[2] == process and pending.peer != peer:
                if not pending.acked:  # its place in the backlog moves with it
                    self._unacked[pending.peer] -= 1
                    self._unacked[peer] = self._unacked.get(peer, 0) + 1
                pending.peer = peer
        self.resend_to(peer, now)

    @property
    def tick_interval(self) -> float:
        return self._resend_after / 4

    async def run_resends(self) -> None:
        """Calls `tick` forever (for nodes without a timer loop of their own)."""
        while True:
            await asyncio.sleep(self.tick_interval)
            self.tick(self._clock())

    def fail_pending(self, reason: str) -> None:
        """Fails every request still waiting with ConnectionError(reason); new requests are unaffected."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError(reason))
        self._pending.clear()
        self._due.clear()
        self._unacked.clear()


def _key_of(invocation_id: bytes) -> int:
    return int.from_bytes(invocation_id[:8], "big")
