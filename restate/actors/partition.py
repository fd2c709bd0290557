"""The partition process: a single writer that batches commands, commits them with one fsync, then acts."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from restate import stage_trace, wire
from restate.actors import faults, logs
from restate.actors.essential_tasks import EssentialTasks
from restate.actors.partition_stats import PartitionStats
from restate.actors.profiling import run_profiled
from restate.actors.timers import TimerService, now_ms
from restate.config import Config
from restate.introspection.status_counts import StatusCounts
from restate.invoker.invoker import Invoker
from restate.ipc.node import Node, partition_index, partition_name
from restate.partition import convert
from restate.partition.actions import (
    AbortAttempt,
    AckOutbox,
    Action,
    ArmTimer,
    ForwardEntry,
    KillAttempt,
    Reply,
    ReplyAccepted,
    ReplyDone,
    ShipOutbox,
    StartAttempt,
    TraceEnded,
    TraceStarted,
)
from restate.partition.commands import (
    Command,
    IngestCmd,
    InvokeCmd,
    OutboxAckCmd,
    OutboxCmd,
    RequestCmd,
    describe_invocation,
)
from restate.partition.state_machine import CommandFailed, StateMachine
from restate.schema import Schema
from restate.storage.partition_store import PartitionStore, Transaction
from restate.storage.tables import BatchChanges, Tables
from restate.storage.view import PartitionView
from restate.tracing import exporter as tracing_exporter
from restate.tracing import spans

if TYPE_CHECKING:  # cluster mode only: single-node never imports restate.cluster (etcd, gRPC)
    from restate.cluster.replica import Replica
    from restate.cluster.replicated_log import LogItem
    from restate.cluster.scan_relay import ScanRelay
    from restate.cluster.snapshot_transfer import Snapshots

log = logging.getLogger(__name__)

MAX_BATCH = 512
OUTBOX_RESEND_S = 1.0
HEARTBEAT_S = 1.0


class _HeartbeatRequest:
    """Queued once a second; the main loop writes the heartbeat when it gets to it, after that batch's commit."""


HEARTBEAT = _HeartbeatRequest()
Queued = Command | _HeartbeatRequest
# Requests that become commands: a follower (cluster mode) drops them; their senders re-send to the leader.
_FOR_THE_LEADER = (
    wire.Invoke,
    wire.OutputRequest,
    wire.ResolveAwakeable,
    wire.ManageInvocation,
    wire.ReplaceObjectState,
    wire.OutboxEnvelope,
)


class PartitionActor:
    def __init__(self, config: Config, index: int) -> None:
        self.config = config
        self.index = index
        self.name = partition_name(index)
        self.replica: Replica | None = None
        self._relay: ScanRelay | None = None  # cluster mode, on a node without a replica of this partition
        self._sync = config.cluster is None  # in a cluster the log in etcd is durable first: no fsync per batch
        self._route: Callable[[int], str] = partition_name  # the bus peer of a partition (in a cluster: its leader's)
        cluster = config.cluster
        if cluster is None:
            self.node = Node(config.base_dir, self.name)
        else:
            from restate.cluster.cluster_config import bus_directory
            from restate.cluster.replica import Replica

            self.node = Node(config.base_dir, self.name, bus_directory(cluster))
            self.replica = Replica(cluster, index)
        self._shard = Path(config.base_dir) / "partitions" / str(index)
        self.snapshots: Snapshots | None = None
        if cluster is not None:
            from restate.cluster import shard_swap
            from restate.cluster.snapshot_transfer import Snapshots

            shard_swap.settle(self._shard)  # a snapshot received whole becomes the shard; one in part is dropped
            self.snapshots = Snapshots(index, lambda: self.store.db, self.node.send)
        self.store = PartitionStore(self._shard)
        self.schema = Schema()
        self.state_machine = StateMachine(index, config.default_num_partitions, config.experimental_protocol_v7)
        self.queue: asyncio.Queue[Queued] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self.tasks = EssentialTasks(self.name, self._stopping.set)
        self.tracer = tracing_exporter.setup(config, self.name)  # None: tracing is off
        self.invoker = Invoker(
            config, self.store, self.queue.put_nowait, lambda: self.schema, partition=index, on_failure=self.tasks.fail,
            tracer=self.tracer,
        )  # fmt: skip
        self.committed = PartitionView(self.store)  # what is durable (the batch being applied not yet)
        self.stats = PartitionStats(index, self.invoker.metrics)  # beat() publishes both
        fault = faults.commit_fault(config.base_dir, index)  # tests only: off unless its variable is set
        self._commit = self._timed_commit if fault is None else fault.wrap(self._timed_commit)
        self.timers = TimerService(self.committed.timers_due, self.queue.put_nowait, self.tasks.fail)
        self._unacked: dict[tuple[int, int], tuple[wire.OutboxMessage, float]] = {}
        self._schema_ready = asyncio.Event()
        self._heartbeat_queued = False
        self._scans: set[asyncio.Task[None]] = set()  # SQL scans being answered (each holds a snapshot)
        self._scanning: set[tuple[str, int]] = set()  # (asker, request id) of those: a re-sent request waits
        # SQL counts by service / status, kept by the commits once asked for (restate.introspection.status_counts)
        self.status_counts = StatusCounts()
        self.store.status_watch = self.status_counts
        self._tip: Transaction | None = None  # cluster mode: the newest batch applied, its append in flight

    # --- lifecycle

    async def run(self) -> int:
        """Runs until SIGTERM/SIGINT (returns 0) or until something it cannot run without fails: that is
        logged and it returns 1, so the process exits and the supervisor restarts it (recovery replays)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        self.node.bind()
        self.tasks.spawn("the receiver", self._receive())
        self.tasks.spawn("the schema fetch", self._fetch_schema(), may_return=True)
        await self._first_set(self._schema_ready, self._stopping)
        if self._stopping.is_set():
            pass
        elif self.replica is None:
            self._start()
        else:
            self.tasks.spawn("the replica", self._lead_when_possible(), may_return=True)
        await self._stopping.wait()
        await self.tasks.cancel_all()
        for scan in list(self._scans):
            scan.cancel()
        await asyncio.gather(*self._scans, return_exceptions=True)
        if self.snapshots is not None:
            self.snapshots.close()
        if self.replica is not None:
            await self.replica.close()
        self.timers.stop()
        await self.invoker.close()
        self.stats.beat()  # a clean stop loses no counts
        if self.tracer is not None:
            self.tracer.shutdown()
        self.store.close()
        self.node.close()
        return 1 if self.tasks.failed else 0

    def _start(self) -> None:
        """Recovers, tells the others it is back, then starts its loops."""
        try:
            self._recover()
        except Exception as exc:  # e.g. a StorageError: a restart may well succeed
            self.tasks.fail("the recovery", exc)
            return
        self._announce_ready()
        self.tasks.spawn("the outbox re-sender", self._resend_outbox())
        self.tasks.spawn("the heartbeat ticker", self._request_heartbeats())
        if self.replica is None:
            self.tasks.spawn("the partition loop", self._main_loop())
        else:
            self._start_replicated_loop()

    async def _lead_when_possible(self) -> None:
        """Cluster mode: follows the partition's log until this replica leads it, then starts as a
        restarted single-node partition does (recovery from its shard, which the log brought up to date)."""
        replica = self.replica
        assert replica is not None
        if not await replica.connect():  # no replica here (docs/cluster.md, "Placement"): scans go to the leader
            from restate.cluster.scan_relay import ScanRelay

            leaders = replica.leaders
            assert leaders is not None
            self._relay = ScanRelay(self.node, lambda: leaders.leader_peer(self.index))
            self.tasks.spawn("the leader map", leaders.follow())
            self.tasks.spawn("the placement watch", self._restart_when_moved(), may_return=True)
            log.info("%s: this node holds no replica (replicas: %s)", self.name, ", ".join(replica.replicas))
            return
        assert replica.lease is not None and replica.leaders is not None
        self._route = replica.leaders.peer
        self.tasks.spawn("the lease", replica.lease.keep_alive())
        self.tasks.spawn("the leader map", replica.leaders.follow())
        self.tasks.spawn("the progress report", replica.report_progress(self.store.sync))
        self.tasks.spawn("the placement watch", self._restart_when_moved(), may_return=True)
        assert self.snapshots is not None
        if await self.snapshots.install_if_behind(replica, self.committed.applied_lsn(), self._shard):
            self._stopping.set()  # restarted by the supervisor on the new shard (nothing here derives from the old)
            return
        await replica.follow_until_leader(self.committed.applied_lsn(), self._apply_replicated)
        self.tasks.spawn("the handover watch", replica.hand_over_when_asked())
        self._start()

    async def _restart_when_moved(self) -> None:
        """Cluster mode: once this node gains or loses its replica (`restate cluster move-replica`), the
        process stops and the supervisor restarts it in its new role (it reads the placement again)."""
        assert self.replica is not None
        why = await self.replica.wait_moved()
        log.info("%s: the partition's placement changed (%s); restarting", self.name, why)
        self._stopping.set()

    async def _apply_replicated(self, item: LogItem) -> None:
        """Applies an entry of the log exactly as its leader did (same clock, schema version, commands);
        its actions are the leader's to carry out, not ours."""
        from restate.partition.command_log.codec import decode_entry

        assert self.replica is not None
        entry = decode_entry(item.entry)
        schema = self.schema
        if schema.version != entry.schema_version:
            schema = await self.replica.schema(entry.schema_version)
        txn = self.store.transaction()
        self.state_machine.apply_entry(txn, entry, schema)
        tables = Tables(txn)
        tables.close_batch()
        tables.set_applied_lsn(item.lsn)
        self._commit(txn)

    @staticmethod
    async def _first_set(*events: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _fetch_schema(self) -> None:
        """Asks admin for the schema until it arrives (admin may start after us)."""
        while not self._schema_ready.is_set():
            self.node.send("admin", wire.GetSchema())
            try:
                await asyncio.wait_for(self._schema_ready.wait(), 1.0)
            except TimeoutError:
                continue

    async def _request_heartbeats(self) -> None:
        """Queues a heartbeat request once a second (one at a time): the main loop writes the heartbeat
        when it gets to it, so a loop that stopped taking commands stops beating (the dashboard's
        "stalled" means just that)."""
        while True:
            self.request_heartbeat()
            await asyncio.sleep(HEARTBEAT_S)

    def request_heartbeat(self) -> None:
        if not self._heartbeat_queued:
            self._heartbeat_queued = True
            self.queue.put_nowait(HEARTBEAT)

    def _recover(self) -> None:
        """Resumes what was running before a restart: attempts, timers and the outbox (rule 4)."""
        view = self.committed
        for invocation_id, status in view.live():  # not the completed ones kept for their retention
            self.stats.recovered(invocation_id, status)
            if status == "invoked":  # through the invoker's bounded queue, taking turns with new work
                self.invoker.start(invocation_id, recovered=True)
        self.stats.queues_recovered(view.queue_counts())
        self.timers.start()
        for destination, seq, message in view.outbox():
            self._ship(destination, seq, convert.wire_outbox(message))

    def _announce_ready(self) -> None:
        """Tells everybody who sends us requests that we are back (see wire.PeerReady)."""
        others = (partition_name(i) for i in range(self.config.default_num_partitions) if i != self.index)
        for peer in ("ingress", "admin", "kafka", *others):
            self.node.send(peer, wire.PeerReady(self.name))

    # --- inputs

    async def _receive(self) -> None:
        while True:
            sender, message = await self.node.recv()
            self._on_message(sender, message)

    def _on_message(self, sender: str, message: wire.Message) -> None:
        if self.replica is not None and not self.replica.leading and isinstance(message, _FOR_THE_LEADER):
            return
        match message:
            case wire.Invoke():
                sink = wire.IngressSink(sender, message.request_id)
                self.queue.put_nowait(InvokeCmd(message.request, sink, message.send))
            case wire.Ingest():
                self.queue.put_nowait(IngestCmd(sender, message.request_id, message.producer, message.records))
            case wire.OutputRequest() | wire.ResolveAwakeable() | wire.ManageInvocation() | wire.ReplaceObjectState():
                self.queue.put_nowait(RequestCmd(sender, message))
            case wire.OutboxEnvelope():
                self.queue.put_nowait(OutboxCmd(message.source, message.seq, message.message))
            case wire.OutboxAck():
                source = partition_index(sender)
                if source is not None:
                    self._unacked.pop((source, message.seq), None)
                    self.queue.put_nowait(OutboxAckCmd(source, message.seq))
            case wire.SchemaUpdate():
                if message.schema.version >= self.schema.version:
                    self.schema = message.schema
                self._schema_ready.set()
                self.node.send(sender, wire.SchemaAck(message.schema.version))
            case wire.PeerReady():
                self._reship_to(message.name)
            case wire.ScanTable() | wire.TableRows() | wire.SnapshotAsk() | wire.SnapshotPart():
                self._on_shard_read(sender, message)
            case _:
                log.warning("%s: unexpected %s from %s", self.name, type(message).__name__, sender)

    def _on_shard_read(
        self, sender: str, message: wire.ScanTable | wire.TableRows | wire.SnapshotAsk | wire.SnapshotPart
    ) -> None:
        """Reads of the shard, outside the state machine: SQL scans, and (cluster mode) snapshots between
        replicas (restate.cluster.snapshot_transfer: served to another node's replica, or being received)."""
        if isinstance(message, wire.SnapshotAsk | wire.SnapshotPart):
            if self.snapshots is not None:
                self.snapshots.on_message(sender, message)
        else:
            self._on_scan(sender, message)

    def _on_scan(self, sender: str, message: wire.ScanTable | wire.TableRows) -> None:
        """A scan is answered from this shard, or, on a cluster node without a replica of the partition,
        by its leader through the relay (until it is known which, it is dropped: the asker re-sends)."""
        if self._relay is not None:
            if isinstance(message, wire.ScanTable):
                self._relay.forward(sender, message)
            else:
                self._relay.answer(message)
        elif isinstance(message, wire.TableRows):
            log.warning("%s: unexpected TableRows from %s", self.name, sender)
        elif self.replica is None or self.replica.replicas:
            self._start_scan(sender, message)

    def _start_scan(self, sender: str, message: wire.ScanTable) -> None:
        """SQL introspection (admin's /query): read-only, from a store snapshot, in steps on this loop (no
        state machine involved); the answer goes back to the asking node. A copy re-sent while the first is
        being answered is dropped (the first one's answer serves it)."""
        asked = (sender, message.request_id)
        if asked in self._scanning:
            return
        self._scanning.add(asked)
        task = asyncio.get_running_loop().create_task(self._answer_scan(sender, message))
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    async def _answer_scan(self, sender: str, message: wire.ScanTable) -> None:
        """Runs a scan a chunk at a time, letting the loop's other work run between two chunks."""
        from restate.introspection import table_scan

        snapshot = self.store.db.snapshot()
        try:
            for step in table_scan.steps(snapshot, message, self.status_counts):
                if step is None:
                    await asyncio.sleep(0)
                else:
                    self.node.send(sender, step)
        finally:
            snapshot.close()
            self._scanning.discard((sender, message.request_id))

    # --- the single writer

    async def _main_loop(self) -> None:
        while True:
            batch, heartbeat = self._take_batch(await self.queue.get())
            if batch:
                if stage_trace.ENABLED:
                    stage_trace.mark("partition: batch taken")
                txn, actions = self._apply_batch(batch)
                changes = Tables(txn).close_batch()
                self.stats.on_batch(changes, len(batch), not txn.is_empty, self.committed)
                if not txn.is_empty:
                    # Synchronous on purpose: handing the fsync to a thread costs two context switches per
                    # batch, more than the fsync itself on small machines; commands keep queueing meanwhile.
                    self._commit(txn)
                    if stage_trace.ENABLED:
                        stage_trace.mark("partition: committed")
                # Durable: act on it at once and send what that posts to other processes (replies) now, not
                # after the loop's other ready callbacks; then the invoker's I/O and the receiver run.
                for action in actions:
                    self._execute(action)
                self.node.flush()
                await asyncio.sleep(0)
            if heartbeat:
                self._heartbeat_queued = False
                self.stats.beat()

    # --- the single writer in cluster mode: appends in flight, each batch acted upon after its own

    def _start_replicated_loop(self) -> None:
        """A batch is applied on top of the batches whose appends are still in flight (at most
        `appends-in-flight`), and its append starts at the next LSN; the completer commits each batch and
        acts on it only once its own append was acknowledged, strictly in LSN order. A failed append
        (Fenced, etcd unavailable) fails the completer: the process exits without committing it or any
        later batch, as with one append at a time. While the pipeline is full, commands queue: the next
        batch takes them all."""
        assert self.config.cluster is not None
        room = asyncio.Semaphore(self.config.cluster.appends_in_flight)
        appending: asyncio.Queue[_Appending] = asyncio.Queue()
        self.tasks.spawn("the partition loop", self._replicated_loop(appending, room))
        self.tasks.spawn("the append completer", self._complete_appends(appending, room))

    async def _replicated_loop(self, appending: asyncio.Queue[_Appending], room: asyncio.Semaphore) -> None:
        from restate.partition.command_log.codec import encode_entry

        replica = self.replica
        assert replica is not None and self.config.cluster is not None
        linger_s = self.config.cluster.append_linger_us / 1e6
        while True:
            first = await self.queue.get()
            await room.acquire()
            # Fewer, larger appends (each costs etcd a transaction and every follower an apply), but only
            # while other attempts run, whose commands may join the batch: a lone call is not delayed.
            if linger_s and self.invoker.attempts_running > 1:
                await asyncio.sleep(linger_s)
            batch, heartbeat = self._take_batch(first)
            if heartbeat:
                self._heartbeat_queued = False
                self.stats.beat()
            if not batch:
                room.release()
                continue
            txn, actions = self._apply_batch(batch, self._tip)
            changes = Tables(txn).close_batch()
            Tables(txn).set_applied_lsn(replica.next_lsn)
            lsn, appended = replica.start_append(encode_entry(self._entry))
            self._tip = txn
            appending.put_nowait(_Appending(lsn, appended, txn, actions, changes, len(batch)))

    async def _complete_appends(self, appending: asyncio.Queue[_Appending], room: asyncio.Semaphore) -> None:
        replica = self.replica
        assert replica is not None
        try:
            while True:
                item = await appending.get()
                await item.appended  # raises Fenced when deposed: nothing from here on is committed
                self.stats.on_batch(item.changes, item.size, not item.txn.is_empty, self.committed)
                self._commit(item.txn)
                item.txn.detach()
                replica.applied(item.lsn)
                if self._tip is item.txn:
                    self._tip = None
                await asyncio.sleep(0)  # let the invoker's I/O and the receiver run between batches
                for action in item.actions:
                    self._execute(action)
                room.release()
        finally:
            while not appending.empty():  # abandoned with the one that failed (the process exits)
                appending.get_nowait().appended.cancel()

    def _timed_commit(self, txn: Transaction) -> None:
        """Commits a batch (its fsync) and records how long that took."""
        started = time.perf_counter()
        txn.commit(self._sync)
        self.stats.observe_fsync(time.perf_counter() - started)

    def _take_batch(self, first: Queued) -> tuple[list[Command], bool]:
        """The commands queued now (at most MAX_BATCH), and whether a heartbeat request was among them."""
        batch: list[Command] = []
        heartbeat = False
        item = first
        while True:
            if isinstance(item, _HeartbeatRequest):
                heartbeat = True
            else:
                batch.append(item)
            if len(batch) >= MAX_BATCH or self.queue.empty():
                return batch, heartbeat
            item = self.queue.get_nowait()

    def _apply_batch(self, batch: list[Command], base: Transaction | None = None) -> tuple[Transaction, list[Action]]:
        """Applies a batch as one log entry (the clock read once, the schema version named) to one
        transaction. A command that raises (a bug) is logged and left out: the entry is re-applied
        without it, so its partial writes never reach the disk and the entry applied is the one a log
        would hold (single-node: LevelDB is the log, the entry is not written anywhere)."""
        entry = self.state_machine.entry(batch, now_ms(), self.schema.version)
        while True:
            txn = self.store.transaction(base)
            try:
                self._entry = entry  # what a cluster's replicated log gets
                return txn, self.state_machine.apply_entry(txn, entry, self.schema)
            except CommandFailed as failed:
                about = describe_invocation(failed.command)
                log.exception("%s: dropping command that failed to apply%s: %r", self.name, about, failed.command)
                entry = entry.without(failed.position)

    def _execute(self, action: Action) -> None:
        match action:
            case ForwardEntry():
                self.invoker.forward(action.invocation_id, action.index, action.frame)
            case StartAttempt():
                self.invoker.start(action.invocation_id, action.delay_ms)
            case ReplyAccepted():
                msg = wire.Accepted(
                    action.sink.request_id, action.invocation_id, action.previously_accepted, action.execute_at_ms
                )
                self.node.send(action.sink.node, msg)
            case ReplyDone():
                done = wire.InvocationDone(
                    action.sink.request_id, action.invocation_id, action.outcome, action.expires_at_ms, action.replayed
                )
                self.node.send(action.sink.node, done)
            case Reply():
                self.node.send(action.node, action.message)
            case KillAttempt():
                self.invoker.kill(action.invocation_id)
            case ShipOutbox():
                self._ship(action.destination, action.seq, action.message)
            case AckOutbox():
                self.node.send(self._route(action.source), wire.OutboxAck(action.seq))
            case ArmTimer():
                self.timers.arm(action.wake_up_ms, action.invocation_id, action.completion_id)
            case AbortAttempt():
                self.invoker.abort(action.invocation_id, action.attempt, action.reason)
            case TraceStarted() | TraceEnded():
                if self.tracer is not None:
                    self.tracer.export(_invocation_span(action))

    # --- outbox shipping (exactly once with the receiver's dedup)

    def _ship(self, destination: int, seq: int, message: wire.OutboxMessage) -> None:
        self._unacked[(destination, seq)] = (message, time.monotonic())
        self.node.send(self._route(destination), wire.OutboxEnvelope(self.index, seq, message))

    def _reship_to(self, peer: str) -> None:
        """A partition restarted: what it did not acknowledge may be lost, ship it again now."""
        destination = partition_index(peer)
        for (to, seq), (message, _) in sorted(self._unacked.items()):
            if to == destination:
                self._ship(to, seq, message)

    async def _resend_outbox(self) -> None:
        """Re-ships envelopes that were not acknowledged in time (lost on a peer's restart)."""
        while True:
            await asyncio.sleep(OUTBOX_RESEND_S)
            cutoff = time.monotonic() - OUTBOX_RESEND_S
            for (destination, seq), (message, sent_at) in sorted(self._unacked.items()):
                if sent_at < cutoff:
                    self._ship(destination, seq, message)


class _Appending(NamedTuple):
    """A batch applied (not committed) whose append is in flight, and what to do once it is acknowledged."""

    lsn: int
    appended: asyncio.Task[None]
    txn: Transaction
    actions: list[Action]
    changes: BatchChanges
    size: int


def _invocation_span(action: TraceStarted | TraceEnded) -> spans.Span:
    """The invocation-start or invocation-end span an action asks for."""
    inv = spans.invocation(action.invocation_id, action.target)
    if isinstance(action, TraceStarted):
        return spans.start_span(inv, action.trace, action.created_at_ms, spans.now_ns())
    failure = None if action.failure is None else (action.failure.code, action.failure.message)
    return spans.end_span(inv, action.trace, failure, spans.now_ns())


def run_partition(config: Config, index: int) -> None:
    """Process entry point of partition `index`; exits with code 1 when the partition failed."""
    import uvloop

    logs.configure(f"p{index}")
    exit_code = 0

    def main() -> None:
        nonlocal exit_code
        exit_code = uvloop.run(PartitionActor(config, index).run())

    run_profiled(f"p{index}", config.base_dir, main)
    if exit_code:
        raise SystemExit(exit_code)
