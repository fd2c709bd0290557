"""A partition store with one invocation in every state, built through the state machine (tests/unit/partition).

`Scenario.build` applies commands the way the partition actor does; the ids of the invocations it created
are attributes, with what is known about them (for SQL assertions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from restate import ids
from restate.introspection.table_scan import answer
from restate.partition.commands import AttemptFailedCmd, InvokeCmd
from restate.protocol import pb
from restate.storage.partition_store import PartitionStore
from restate.wire import Failure, ScanFilter, TableRows
from tests.unit.partition.harness import (
    GREETER,
    NOW,
    Partition,
    counter_add,
    future,
    request,
    run_request,
    sink,
)

WAKE_UP = NOW + 60_000
DELAYED_TO = NOW + 3_600_000


@dataclass
class Scenario:
    """One invocation per state, all in one partition store (`num_partitions` = 1)."""

    partition: Partition
    completed: bytes  # Greeter/greet: called Counter/k2/add, then returned "Hello"
    callee: bytes  # Counter/k2/add, created by `completed`'s call (sent through the outbox, not applied)
    killed: bytes  # Greeter/greet killed while running: [409] killed
    running: bytes  # Counter/k1/add: holds k1's lock, set state `count`, sleeps (named "nap")
    inboxed: bytes  # Counter/k1/add: waits behind `running`
    backing_off: bytes  # Greeter/greet: one failed attempt ([500] boom), retrying
    scheduled: bytes  # Greeter/greet: delayed by an hour, with an idempotency key
    suspended: bytes  # Greeter/greet: suspended on a sleep (completion 1)
    paused: bytes  # Greeter/greet: paused by admin
    workflow: bytes  # Signup/wf1/run: completed the promise `approval` with "yes", running

    @classmethod
    def build(cls, path: Path) -> Scenario:
        p = Partition(path, num_partitions=1)
        # completed, after calling Counter/k2/add
        completed = _invoke(p, request(GREETER, b'"Alice"'), send=False)
        call = pb.CallCommandMessage(
            service_name="Counter", handler_name="add", key="k2", parameter=b"5",
            invocation_id_notification_idx=1, result_completion_id=2, name="count it",
        )  # fmt: skip
        p.sdk(completed, call)
        p.now += 5
        p.finish(completed, b'"Hello"')
        callee = _callee_of(p, completed)
        killed = _invoke(p, request(GREETER, b'"Bob"'))
        p.manage(killed, "kill")
        p.now += 10
        running = _invoke(p, request(counter_add("k1"), b"1"))
        p.sdk(running, pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"1")))
        p.sdk(running, pb.SleepCommandMessage(wake_up_time=WAKE_UP, result_completion_id=1, name="nap"))
        inboxed = _invoke(p, request(counter_add("k1"), b"2"))
        p.now += 10
        backing_off = _invoke(p, request(GREETER, b'"Carl"'))
        p.apply(AttemptFailedCmd(backing_off, p.attempt(backing_off), Failure(500, "boom"), 1000))
        scheduled = _invoke(p, request(GREETER, b'"Dora"', execute_at_ms=DELAYED_TO, idempotency_key="idem-1"))
        suspended = _invoke(p, request(GREETER, b'"Eve"'))
        p.sdk(suspended, pb.SleepCommandMessage(wake_up_time=WAKE_UP, result_completion_id=1))
        p.suspend(suspended, future(1, completions=(1,)))
        paused = _invoke(p, request(GREETER, b'"Fay"'))
        p.manage(paused, "pause")
        workflow = _invoke(p, run_request("wf1", b'"Gil"'))
        promise = pb.CompletePromiseCommandMessage(
            key="approval", completion_value=pb.Value(content=b'"yes"'), result_completion_id=1
        )
        p.sdk(workflow, promise)
        return cls(p, completed, callee, killed, running, inboxed, backing_off, scheduled, suspended, paused, workflow)

    @property
    def store(self) -> PartitionStore:
        return self.partition.store

    def close(self) -> None:
        self.partition.close()


def _invoke(p: Partition, req: object, send: bool = True) -> bytes:
    p.apply(InvokeCmd(req, sink(p.now % 1000 + 1), send))  # type: ignore[arg-type]
    return req.invocation_id  # type: ignore[attr-defined,no-any-return]


def _callee_of(p: Partition, caller: bytes) -> bytes:
    """The id in the CallInvocationId notification of `caller`'s journal."""
    for msg_type, msg in p.journal(caller):
        if msg_type == 0x800E:
            return ids.InvocationId.parse(msg.invocation_id).to_bytes()  # type: ignore[attr-defined]
    raise AssertionError("no CallInvocationId notification")


def text(inv_id: bytes) -> str:
    return str(ids.InvocationId.from_bytes(inv_id))


class LocalScanner:
    """Answers scans from partition stores in this process, the way the partitions do (for engine tests)."""

    def __init__(self, stores: dict[int, PartitionStore]) -> None:
        self.stores = stores
        self.calls: list[tuple[int, str, list[ScanFilter], list[str] | None, int | None]] = []
        self.orders: list[tuple[str, bool] | None] = []

    async def scan(
        self,
        partition: int,
        table: str,
        filters: list[ScanFilter],
        columns: list[str] | None,
        limit: int | None,
        order: tuple[str, bool] | None = None,
    ) -> TableRows:
        from restate.wire import ScanTable

        self.calls.append((partition, table, filters, columns, limit))
        self.orders.append(order)
        store = self.stores.get(partition)
        if store is None:
            return TableRows(0, columns or [], [[] for _ in columns or []])
        order_by, descending = order if order is not None else (None, False)
        return answer(store.db, ScanTable(0, table, filters, columns, limit, order_by, descending))
