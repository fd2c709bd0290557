"""Helpers of the request and invocation-management tests: invocations brought into each status."""

from __future__ import annotations

from restate import ids
from restate.partition.commands import AttemptFailedCmd, InvokeCmd, RequestCmd
from restate.protocol import MessageType, pb
from restate.wire import (
    Failure,
    Outcome,
    OutputRequest,
    ResolveAwakeable,
)
from tests.unit.partition.harness import (
    GREETER,
    NOW,
    Partition,
    request,
    sink,
)

T = MessageType
NODE = "ingress-1"
KILLED = Outcome(failure=Failure(409, "killed"))
CANCELED = Outcome(failure=Failure(409, "canceled"))


def started(p: Partition, target=GREETER, request_id: int = 1, **kw: object) -> bytes:  # type: ignore[no-untyped-def]
    req = request(target, **kw)  # type: ignore[arg-type]
    p.apply(InvokeCmd(req, sink(request_id)))
    return req.invocation_id


def sleep_on(p: Partition, inv: bytes, cid: int = 1) -> None:
    p.sdk(inv, pb.SleepCommandMessage(wake_up_time=NOW + 60_000, result_completion_id=cid))


def suspended(p: Partition, target=GREETER, request_id: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    inv = started(p, target, request_id)
    sleep_on(p, inv)
    p.suspend_v6(inv, completions=[1], signals=[1])
    assert p.status(inv).status == "suspended"
    return inv


def paused(p: Partition, target=GREETER, request_id: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    inv = started(p, target, request_id)
    p.apply(AttemptFailedCmd(inv, p.attempt(inv), Failure(500, "boom"), retry_in_ms=None, give_up="pause"))
    assert p.status(inv).status == "paused"
    return inv


def completed(p: Partition, value: bytes = b'"done"') -> bytes:
    inv = started(p)
    p.finish(inv, value)
    return inv


def output(p: Partition, inv: bytes, wait: bool, request_id: int = 9) -> list:  # type: ignore[type-arg]
    return p.apply(RequestCmd(NODE, OutputRequest(request_id, inv, wait)))


def resolve(p: Partition, inv: bytes, idx: int, outcome: Outcome, request_id: int = 9) -> list:  # type: ignore[type-arg]
    return p.apply(RequestCmd(NODE, ResolveAwakeable(request_id, inv, idx, outcome)))


def name_of(inv: bytes) -> str:
    return str(ids.InvocationId.from_bytes(inv))
