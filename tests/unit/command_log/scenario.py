"""A recorded run of one partition that uses every command type and produces every action type: the
log entries the determinism tests replay (built here in memory; its bytes are also a golden fixture)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from restate.partition.actions import Action
from restate.partition.commands import (
    AttemptFailedCmd,
    Command,
    EndCmd,
    IngestCmd,
    InvokeCmd,
    LogEntry,
    OutboxAckCmd,
    OutboxCmd,
    RequestCmd,
    TimerFiredCmd,
)
from restate.protocol import pb
from restate.wire import (
    CallerSink,
    Failure,
    IngestRecord,
    InvocationResponse,
    ManageInvocation,
    Outcome,
    OutputRequest,
    ReplaceObjectState,
    ResolveAwakeable,
    Signal,
    TraceContext,
)
from tests.unit.partition.harness import (
    GREETER,
    Partition,
    counter_add,
    future,
    request,
    run_request,
    sink,
)

INGRESS = "ingress-0"
KAFKA = "kafka"
ADMIN = "admin-0"


def apply_batch(p: Partition, commands: list[Command]) -> list[Action]:
    """Applies several commands as one entry, as the partition actor does with a batch."""
    entry = p.machine.entry(commands, p.now, p.schema.version)
    p.entries.append(entry)
    txn = p.store.transaction()
    actions = p.machine.apply_entry(txn, entry, p.schema)
    txn.commit()
    return actions


def record(path: Path) -> list[LogEntry]:
    """Runs the scenario on a fresh store at `path` and returns the entries it applied, in order."""
    p = Partition(path)
    try:
        _services(p)
        _objects_and_workflows(p)
        _requests(p)
        _kafka(p)
        return p.entries
    finally:
        p.close()


def _tick(p: Partition, ms: int = 7) -> None:
    p.now += ms


def _services(p: Partition) -> None:
    """A service call that runs, sleeps, suspends, wakes up, calls another partition and completes; it is
    traced (a client's trace), so its call and its send carry the trace on."""
    trace = TraceContext(bytes(range(16)), bytes(range(8)), "vendor=abc")
    greet = msgspec.structs.replace(request(GREETER, b'"Alice"'), trace=trace)
    inv = greet.invocation_id
    p.apply(InvokeCmd(greet, sink(1)))
    p.apply(InvokeCmd(greet, sink(2)))  # the same request again: attaches
    _tick(p)
    p.sdk(inv, pb.RunCommandMessage(result_completion_id=1, name="step"))
    p.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=1, value=b'"ran"'))
    p.sdk(inv, pb.SleepCommandMessage(wake_up_time=p.now + 500, result_completion_id=2))
    p.suspend_v6(inv, completions=[2], signals=[1])
    p.now += 500
    p.apply(TimerFiredCmd(p.now, inv, 2))
    call = pb.CallCommandMessage(
        service_name="Counter",
        handler_name="add",
        key="bob",
        parameter=b"1",
        invocation_id_notification_idx=3,
        result_completion_id=4,
    )
    p.sdk(inv, call)
    send = pb.OneWayCallCommandMessage(
        service_name="Greeter",
        handler_name="greet",
        parameter=b'"x"',
        invocation_id_notification_idx=5,
        invoke_time=p.now + 1000,
    )
    p.sdk(inv, send)
    _tick(p)
    apply_batch(
        p,
        [
            OutboxCmd(1, 1, InvocationResponse(CallerSink(inv, 4), Outcome(value=b"2"))),
            OutboxCmd(1, 1, InvocationResponse(CallerSink(inv, 4), Outcome(value=b"2"))),  # duplicate: dedup
            OutboxAckCmd(1, 1),
            OutboxAckCmd(2, 1),
        ],
    )
    p.finish(inv, b'"Hello Alice"')
    # a failing one: aborted, retried once, then killed by the invoker's policy
    failing = request(GREETER, b'"Eve"')
    p.apply(InvokeCmd(failing, sink(3), send=True))
    fid = failing.invocation_id
    unknown = pb.CallCommandMessage(service_name="Nope", handler_name="h", result_completion_id=2)
    p.sdk(fid, unknown)  # refused: the partition aborts the attempt, the invoker reports its failure
    p.apply(AttemptFailedCmd(fid, p.attempt(fid), Failure(500, "boom"), 250))
    p.now += 250
    p.apply(AttemptFailedCmd(fid, p.attempt(fid), Failure(500, "again"), None, "kill"))
    # a delayed one, started by its timer
    later = request(GREETER, b'"Bob"', execute_at_ms=p.now + 60_000)
    p.apply(InvokeCmd(later, sink(4), send=True))
    p.now += 60_000
    p.apply(TimerFiredCmd(later.execute_at_ms or 0, later.invocation_id, 0))
    p.sdk(later.invocation_id, pb.OutputCommandMessage(value=pb.Value(content=b'"late"')))
    p.apply(EndCmd(later.invocation_id, p.attempt(later.invocation_id)))


def _objects_and_workflows(p: Partition) -> None:
    """Two calls to one object key (the second waits in the inbox), state, a workflow and its promise."""
    first, second = request(counter_add("carol"), b"1"), request(counter_add("carol"), b"2")
    apply_batch(p, [InvokeCmd(first, sink(10)), InvokeCmd(second, sink(11))])
    p.sdk(first.invocation_id, pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"1")))
    p.finish(first.invocation_id, b"1")
    p.sdk(second.invocation_id, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1))
    p.finish(second.invocation_id, b"3")
    run = run_request("dave", b'"dave@example.com"')
    p.apply(InvokeCmd(run, sink(12)))
    wid = run.invocation_id
    p.sdk(wid, pb.GetPromiseCommandMessage(key="confirmed", result_completion_id=1))
    p.suspend(wid, future(pb.Future.FIRST_COMPLETED, completions=(1,)))
    p.apply(OutboxCmd(2, 1, Signal(wid, name="poke", outcome=None)))
    p.apply(InvokeCmd(request(counter_add("carol"), b"5"), sink(13)))


def _requests(p: Partition) -> None:
    """Ingress and admin requests: attach, get output, awakeables, cancel, pause, resume, purge, state."""
    inv = request(GREETER, b'"Frank"')
    p.apply(InvokeCmd(inv, sink(20), send=True))
    iid = inv.invocation_id
    p.apply(RequestCmd(INGRESS, OutputRequest(21, iid, wait=False)))
    p.apply(RequestCmd(INGRESS, OutputRequest(22, iid, wait=True)))
    p.suspend_v6(iid, completions=[], signals=[17])
    p.apply(RequestCmd(INGRESS, ResolveAwakeable(23, iid, 17, Outcome(value=b'"yes"'))))
    p.apply(RequestCmd(ADMIN, ManageInvocation(24, iid, "pause")))
    p.apply(RequestCmd(ADMIN, ManageInvocation(25, iid, "resume")))
    p.apply(RequestCmd(ADMIN, ManageInvocation(26, iid, "cancel")))
    p.finish(iid, b'"canceled"')
    p.apply(RequestCmd(ADMIN, ManageInvocation(27, iid, "purge_journal")))
    p.apply(RequestCmd(ADMIN, ManageInvocation(28, iid, "purge")))
    p.apply(RequestCmd(ADMIN, ReplaceObjectState(29, "Counter", "carol", [(b"count", b"9")])))
    p.apply(RequestCmd(ADMIN, ManageInvocation(30, iid, "kill")))  # gone already: 404
    p.now += 24 * 3600 * 1000  # retention timers of the completed ones fire
    for wake_up_ms, invocation_id, completion_id in p.timers():
        if wake_up_ms <= p.now:
            p.apply(TimerFiredCmd(wake_up_ms, invocation_id, completion_id))


def _kafka(p: Partition) -> None:
    """Kafka records of one producer: each offset applied once, a re-delivered batch skipped from its first
    new offset on."""
    records = [IngestRecord(o, request(counter_add("carol"), f"k{o}".encode())) for o in range(3)]
    p.apply(IngestCmd(KAFKA, 40, "sub_x|g|t|0", records[:2]))
    p.apply(IngestCmd(KAFKA, 41, "sub_x|g|t|0", records))  # 0 and 1 again: only 2 is new
