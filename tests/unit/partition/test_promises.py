"""Workflow durable promises (PROTOCOL.md 8.1): GetPromise waits, PeekPromise looks, CompletePromise resolves once
and wakes every listener of the workflow key."""

from __future__ import annotations

from restate.partition.actions import AbortAttempt, ForwardEntry, StartAttempt
from restate.partition.commands import InvokeCmd
from restate.protocol import MessageType, pb
from restate.storage.records import FailureRecord, OutcomeRecord, PromiseListener, PromiseRecord
from tests.unit.partition.harness import (
    GREETER,
    Partition,
    counter_add,
    of_type,
    only_forward,
    parse_frame,
    request,
    run_request,
    signup_approve,
    sink,
    starts,
)

T = MessageType


def waiting(invocation_id: bytes, completion_id: int = 1) -> PromiseRecord:
    """A promise without outcome, one invocation listening."""
    return PromiseRecord(listeners=[PromiseListener(invocation_id=invocation_id, completion_id=completion_id)])


def _run(p: Partition, key: str = "alice") -> bytes:
    req = run_request(key)
    p.apply(InvokeCmd(req, sink()))
    return req.invocation_id


def _shared(p: Partition, key: str = "alice", request_id: int = 2) -> bytes:
    req = request(signup_approve(key))
    p.apply(InvokeCmd(req, sink(request_id)))
    return req.invocation_id


def _get(name: str, cid: int) -> pb.GetPromiseCommandMessage:
    return pb.GetPromiseCommandMessage(key=name, result_completion_id=cid)


def _peek(name: str, cid: int) -> pb.PeekPromiseCommandMessage:
    return pb.PeekPromiseCommandMessage(key=name, result_completion_id=cid)


def _resolve(name: str, cid: int, value: bytes) -> pb.CompletePromiseCommandMessage:
    return pb.CompletePromiseCommandMessage(
        key=name, completion_value=pb.Value(content=value), result_completion_id=cid
    )


def _reject(name: str, cid: int, code: int, message: str) -> pb.CompletePromiseCommandMessage:
    failure = pb.Failure(code=code, message=message)
    return pb.CompletePromiseCommandMessage(key=name, completion_failure=failure, result_completion_id=cid)


def _forward_to(actions: list, inv: bytes) -> ForwardEntry:  # type: ignore[type-arg]
    found = [a for a in actions if isinstance(a, ForwardEntry) and a.invocation_id == inv]
    assert len(found) == 1, actions
    return found[0]


def _notification(forward: ForwardEntry, msg_type: int):  # type: ignore[no-untyped-def]
    got_type, _, notif = parse_frame(forward.frame)
    assert got_type == msg_type
    return notif


def test_get_promise_before_completion_waits(partition: Partition) -> None:
    run = _run(partition)
    assert partition.sdk(run, _get("email", 1)) == []
    assert partition.journal_types(run) == [T.INPUT, T.GET_PROMISE]
    assert partition.tables.promise("Signup", "alice", "email") == waiting(run)
    assert partition.status(run).completions == []


def test_complete_promise_wakes_every_listener(partition: Partition) -> None:
    run = _run(partition)
    partition.sdk(run, _get("email", 1))
    other = _shared(partition, request_id=2)
    partition.sdk(other, _get("email", 3))
    partition.suspend_v6(other, completions=[3], signals=[1])
    completer = _shared(partition, request_id=3)

    actions = partition.sdk(completer, _resolve("email", 5, b'"a@b.c"'))

    # the completer: CompletePromiseCompletion void, after its command
    notif = _notification(_forward_to(actions, completer), T.COMPLETE_PROMISE_COMPLETION)
    assert notif.completion_id == 5 and notif.WhichOneof("result") == "void"
    assert partition.journal_types(completer) == [T.INPUT, T.COMPLETE_PROMISE, T.COMPLETE_PROMISE_COMPLETION]

    # the running run: forwarded live
    notif = _notification(_forward_to(actions, run), T.GET_PROMISE_COMPLETION)
    assert notif.completion_id == 1 and notif.value.content == b'"a@b.c"'
    assert partition.journal_types(run) == [T.INPUT, T.GET_PROMISE, T.GET_PROMISE_COMPLETION]
    assert partition.status(run).completions == [1]

    # the suspended shared handler (another invocation of the same key): resumed
    assert starts(actions) == [other]
    assert partition.journal_types(other) == [T.INPUT, T.GET_PROMISE, T.GET_PROMISE_COMPLETION]
    _, stored = partition.journal(other)[2]
    assert isinstance(stored, pb.GetPromiseCompletionNotificationMessage)
    assert stored.completion_id == 3 and stored.value.content == b'"a@b.c"'

    record = partition.tables.promise("Signup", "alice", "email")
    assert record == PromiseRecord(outcome=OutcomeRecord(value=b'"a@b.c"'))


def test_an_invocation_can_complete_the_promise_it_waits_for(partition: Partition) -> None:
    run = _run(partition)
    partition.sdk(run, _get("p", 1))
    actions = partition.sdk(run, _resolve("p", 2, b"v"))
    assert [f.index for f in of_type(actions, ForwardEntry)] == [3, 4]
    assert partition.journal_types(run) == [
        T.INPUT,
        T.GET_PROMISE,
        T.COMPLETE_PROMISE,
        T.COMPLETE_PROMISE_COMPLETION,
        T.GET_PROMISE_COMPLETION,
    ]
    assert sorted(partition.status(run).completions) == [1, 2]


def test_get_promise_after_completion_answers_at_once(partition: Partition) -> None:
    run = _run(partition)
    partition.sdk(run, _resolve("p", 1, b"v"))
    forward = only_forward(partition.sdk(run, _get("p", 2)))
    notif = _notification(forward, T.GET_PROMISE_COMPLETION)
    assert notif.completion_id == 2 and notif.value.content == b"v"


def test_second_complete_promise_fails_with_409(partition: Partition) -> None:
    run = _run(partition)
    partition.sdk(run, _resolve("p", 1, b"first"))
    other = _shared(partition)
    forward = only_forward(partition.sdk(other, _resolve("p", 1, b"second")))
    notif = _notification(forward, T.COMPLETE_PROMISE_COMPLETION)
    assert notif.completion_id == 1 and notif.WhichOneof("result") == "failure"
    assert (notif.failure.code, notif.failure.message) == (409, "promise was already completed")
    assert partition.status(other).failed_completions == [1]
    record = partition.tables.promise("Signup", "alice", "p")
    assert record is not None and record.outcome == OutcomeRecord(value=b"first")


def test_rejected_promise_fails_its_listeners(partition: Partition) -> None:
    run = _run(partition)
    partition.sdk(run, _get("p", 1))
    other = _shared(partition)
    partition.sdk(other, _reject("p", 1, 500, "no"))
    _, notif = partition.journal(run)[-1]
    assert isinstance(notif, pb.GetPromiseCompletionNotificationMessage)
    assert (notif.failure.code, notif.failure.message) == (500, "no")
    assert partition.status(run).failed_completions == [1]
    record = partition.tables.promise("Signup", "alice", "p")
    assert record is not None and record.outcome == OutcomeRecord(failure=FailureRecord(code=500, message="no"))


def test_peek_promise_void_then_value(partition: Partition) -> None:
    run = _run(partition)
    notif = _notification(only_forward(partition.sdk(run, _peek("p", 1))), T.PEEK_PROMISE_COMPLETION)
    assert notif.completion_id == 1 and notif.WhichOneof("result") == "void"
    assert partition.tables.promise("Signup", "alice", "p") is None  # peeking registers nothing

    partition.sdk(run, _get("p", 2))  # a listener exists, but the promise is still not completed
    notif = _notification(only_forward(partition.sdk(run, _peek("p", 3))), T.PEEK_PROMISE_COMPLETION)
    assert notif.WhichOneof("result") == "void"

    other = _shared(partition)
    partition.sdk(other, _resolve("p", 1, b"v"))
    notif = _notification(only_forward(partition.sdk(run, _peek("p", 4))), T.PEEK_PROMISE_COMPLETION)
    assert notif.completion_id == 4 and notif.value.content == b"v"

    partition.sdk(run, _reject("q", 5, 418, "teapot"))
    notif = _notification(only_forward(partition.sdk(run, _peek("q", 6))), T.PEEK_PROMISE_COMPLETION)
    assert notif.WhichOneof("result") == "failure" and notif.failure.code == 418


def test_promises_belong_to_one_workflow_key(partition: Partition) -> None:
    alice = _run(partition, "alice")
    bob = _run(partition, "bob")
    partition.sdk(bob, _get("p", 1))
    partition.sdk(alice, _resolve("p", 1, b"v"))
    assert partition.journal_types(bob) == [T.INPUT, T.GET_PROMISE]
    assert partition.tables.promise("Signup", "bob", "p") == waiting(bob)


def test_promise_commands_outside_workflows_abort_the_attempt(partition: Partition) -> None:
    for i, msg in enumerate((_get("p", 1), _peek("p", 1), _resolve("p", 1, b"v"))):
        for target in (GREETER, counter_add(f"k{i}")):  # a fresh key each time: the poisoned one keeps its lock
            req = request(target)
            partition.apply(InvokeCmd(req, sink()))
            inv = req.invocation_id
            [abort] = partition.sdk(inv, msg)
            assert isinstance(abort, AbortAttempt) and abort.invocation_id == inv
            assert "workflow" in abort.reason
            assert partition.journal_types(inv) == [T.INPUT]
            assert partition.status(inv).poisoned


def test_listener_that_completed_meanwhile_is_skipped(partition: Partition) -> None:
    other = _shared(partition)
    partition.sdk(other, _get("p", 1))
    partition.finish(other)
    assert partition.status(other).status == "completed"
    run = _run(partition)
    actions = partition.sdk(run, _resolve("p", 1, b"v"))
    assert [f.invocation_id for f in of_type(actions, ForwardEntry)] == [run]
    assert StartAttempt(other, 0) not in actions
