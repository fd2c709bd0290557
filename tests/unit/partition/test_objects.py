"""Virtual objects: the per-key lock and inbox, user state, lazy state reads, poisoned attempts."""

from __future__ import annotations

from pathlib import Path

import msgspec

from restate.partition.actions import AbortAttempt, ForwardEntry, ReplyDone, StartAttempt
from restate.partition.commands import AttemptFailedCmd, EndCmd, InvokeCmd
from restate.protocol import MessageType, pb
from restate.schema import HandlerSchema, ServiceSchema
from restate.wire import Failure, Outcome, Target
from tests.unit.partition.harness import (
    DEPLOYMENT_ID,
    Partition,
    counter_add,
    counter_get,
    make_schema,
    only_forward,
    parse_frame,
    request,
    sink,
)

T = MessageType


def _invoke(p: Partition, target, request_id: int = 1) -> tuple[bytes, list]:  # type: ignore[no-untyped-def]
    req = request(target)
    actions = p.apply(InvokeCmd(req, sink(request_id)))
    return req.invocation_id, actions


def _finish(p: Partition, inv: bytes, value: bytes = b"") -> list:  # type: ignore[type-arg]
    p.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=value)))
    return p.apply(EndCmd(inv, p.attempt(inv)))


def _starts(actions: list) -> list[bytes]:  # type: ignore[type-arg]
    return [a.invocation_id for a in actions if isinstance(a, StartAttempt)]


# --- lock and inbox


def test_second_exclusive_invocation_on_a_key_is_inboxed(partition: Partition) -> None:
    first, actions = _invoke(partition, counter_add("k"))
    assert _starts(actions) == [first]
    assert partition.tables.lock_holder("Counter", "k") == first

    second, actions = _invoke(partition, counter_add("k"), request_id=2)
    assert actions == []  # inboxed: nothing to do until the lock is released
    status = partition.status(second)
    assert status.status == "inboxed"
    assert status.inbox_seq is not None
    assert status.deployment_id is None  # pinned only when it starts
    assert partition.tables.lock_holder("Counter", "k") == first

    done = _finish(partition, first)
    assert _starts(done) == [second]
    assert partition.tables.lock_holder("Counter", "k") == second
    status = partition.status(second)
    assert status.status == "invoked" and status.inbox_seq is None
    assert status.protocol_version == 6

    assert _starts(_finish(partition, second)) == []
    assert partition.tables.lock_holder("Counter", "k") is None


def test_queued_invocations_run_in_arrival_order(partition: Partition) -> None:
    running, _ = _invoke(partition, counter_add("k"))
    queued = [_invoke(partition, counter_add("k"), request_id=i)[0] for i in range(2, 5)]
    order = []
    for _ in queued:
        [next_id] = _starts(_finish(partition, running))
        order.append(next_id)
        running = next_id
    assert order == queued
    assert _starts(_finish(partition, running)) == []


def test_failed_exclusive_invocation_releases_the_key(partition: Partition) -> None:
    first, _ = _invoke(partition, counter_add("k"))
    second, _ = _invoke(partition, counter_add("k"), request_id=2)
    actions = partition.apply(
        AttemptFailedCmd(first, partition.attempt(first), Failure(500, "boom"), retry_in_ms=None, give_up="kill")
    )
    assert _starts(actions) == [second]


def test_lock_is_held_across_retries_and_suspension(partition: Partition) -> None:
    first, _ = _invoke(partition, counter_add("k"))
    partition.apply(AttemptFailedCmd(first, partition.attempt(first), Failure(500, "boom"), retry_in_ms=100))
    partition.sdk(first, pb.SleepCommandMessage(wake_up_time=partition.now + 10, result_completion_id=1))
    partition.suspend_v6(first, [1], [1])
    second, actions = _invoke(partition, counter_add("k"), request_id=2)
    assert _starts(actions) == []
    assert partition.status(second).status == "inboxed"
    assert partition.tables.lock_holder("Counter", "k") == first


def test_shared_handler_never_locks(partition: Partition) -> None:
    writer, _ = _invoke(partition, counter_add("k"))
    reader, actions = _invoke(partition, counter_get("k"), request_id=2)
    assert _starts(actions) == [reader]
    assert partition.tables.lock_holder("Counter", "k") == writer
    _finish(partition, reader)
    assert partition.tables.lock_holder("Counter", "k") == writer

    _finish(partition, writer)
    reader2, actions = _invoke(partition, counter_get("k"), request_id=3)
    assert _starts(actions) == [reader2]
    assert partition.tables.lock_holder("Counter", "k") is None


def test_different_keys_run_in_parallel(partition: Partition) -> None:
    a, actions_a = _invoke(partition, counter_add("a"))
    b, actions_b = _invoke(partition, counter_add("b"), request_id=2)
    ab, actions_ab = _invoke(partition, counter_add("ab"), request_id=3)
    assert _starts(actions_a) == [a] and _starts(actions_b) == [b] and _starts(actions_ab) == [ab]
    assert partition.tables.lock_holder("Counter", "a") == a
    assert partition.tables.lock_holder("Counter", "b") == b
    assert partition.tables.lock_holder("Counter", "ab") == ab


# --- state


def _set(p: Partition, inv: bytes, key: bytes, value: bytes) -> list:  # type: ignore[type-arg]
    return p.sdk(inv, pb.SetStateCommandMessage(key=key, value=pb.Value(content=value)))


def test_state_set_clear_clear_all(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    other, _ = _invoke(partition, counter_add("k2"), request_id=2)
    assert _set(partition, inv, b"count", b"1") == []
    _set(partition, inv, b"name", b'"x"')
    _set(partition, inv, b"count", b"2")
    _set(partition, other, b"count", b"99")
    assert partition.state("Counter", "k") == {b"count": b"2", b"name": b'"x"'}

    partition.sdk(inv, pb.ClearStateCommandMessage(key=b"name"))
    assert partition.state("Counter", "k") == {b"count": b"2"}

    partition.sdk(inv, pb.ClearAllStateCommandMessage())
    assert partition.state("Counter", "k") == {}
    assert partition.state("Counter", "k2") == {b"count": b"99"}  # other keys untouched

    assert partition.journal_types(inv) == [
        T.INPUT,
        T.SET_STATE,
        T.SET_STATE,
        T.SET_STATE,
        T.CLEAR_STATE,
        T.CLEAR_ALL_STATE,
    ]


def test_clear_all_does_not_touch_a_key_sharing_a_prefix(partition: Partition) -> None:
    a, _ = _invoke(partition, counter_add("a"))
    ab, _ = _invoke(partition, counter_add("ab"), request_id=2)
    _set(partition, a, b"x", b"1")
    _set(partition, ab, b"x", b"2")
    partition.sdk(a, pb.ClearAllStateCommandMessage())
    assert partition.state("Counter", "a") == {}
    assert partition.state("Counter", "ab") == {b"x": b"2"}


def test_state_survives_the_invocation(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    _set(partition, inv, b"count", b"1")
    _finish(partition, inv)
    assert partition.state("Counter", "k") == {b"count": b"1"}


def test_state_access_from_a_plain_service_is_refused(partition: Partition) -> None:
    inv, _ = _invoke(partition, request().target)
    actions = partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"x", result_completion_id=1))
    assert [type(a) for a in actions] == [AbortAttempt]
    assert partition.journal_types(inv) == [T.INPUT]


def test_state_write_from_a_shared_handler_aborts_the_attempt(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_get("k"))
    actions = partition.sdk(inv, pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"1")))
    [abort] = actions
    assert isinstance(abort, AbortAttempt) and abort.invocation_id == inv
    assert "shared" in abort.reason
    assert partition.state("Counter", "k") == {}
    assert partition.journal_types(inv) == [T.INPUT]  # the command is not stored
    status = partition.status(inv)
    assert status.poisoned and status.command_count == 0

    for cmd in (pb.ClearStateCommandMessage(key=b"count"), pb.ClearAllStateCommandMessage()):
        # fresh attempts of other shared invocations are refused the same way
        other, _ = _invoke(partition, counter_get("k"), request_id=9)
        assert [type(a) for a in partition.sdk(other, cmd)] == [AbortAttempt]


def test_messages_of_a_poisoned_attempt_are_ignored_until_it_restarts(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_get("k"))
    _set(partition, inv, b"count", b"1")  # poisons the attempt

    assert partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1)) == []
    assert partition.sdk(inv, pb.RunCommandMessage(result_completion_id=2)) == []
    assert partition.sdk(inv, pb.ProposeRunCompletionMessage(result_completion_id=2, value=b"v")) == []
    assert partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"x"))) == []
    assert partition.journal_types(inv) == [T.INPUT]
    assert partition.status(inv).pending_output is None

    actions = partition.apply(
        AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "precondition"), retry_in_ms=100)
    )
    assert actions == [StartAttempt(inv, 100)]
    status = partition.status(inv)
    assert not status.poisoned and status.status == "invoked"
    assert status.last_failure == "[500] precondition"

    # the new attempt is heard again
    partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1))
    assert partition.journal_types(inv) == [T.INPUT, T.GET_LAZY_STATE, T.GET_LAZY_STATE_COMPLETION]


def test_end_of_a_poisoned_attempt_does_not_complete_the_invocation(partition: Partition) -> None:
    """Request/response: the SDK sent [SetState, Output, End] in one body; the partition refused SetState.

    The invoker emits End right after the commands (it has not yet seen the AbortAttempt), so End must
    be ignored like every other message of the poisoned attempt: the attempt failed, it must be retried.
    """
    inv, _ = _invoke(partition, counter_get("k"))
    _set(partition, inv, b"count", b"1")
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"x")))
    actions = partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert actions == []
    status = partition.status(inv)
    assert status.status == "invoked"
    assert status.outcome is None
    assert partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "refused"), retry_in_ms=100)) == [
        StartAttempt(inv, 100)
    ]


def test_suspension_of_a_poisoned_attempt_does_not_suspend(partition: Partition) -> None:
    """The SDK wrote a refused Call and suspended waiting for its result: nothing will ever complete it."""
    inv, _ = _invoke(partition, counter_add("k"))
    bad = pb.CallCommandMessage(
        service_name="Nope", handler_name="h", invocation_id_notification_idx=1, result_completion_id=2
    )
    [abort] = partition.sdk(inv, bad)
    assert isinstance(abort, AbortAttempt)
    assert partition.suspend_v6(inv, completions=[2], signals=[1]) == []
    status = partition.status(inv)
    assert status.status == "invoked"
    assert partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "refused"), retry_in_ms=100)) == [
        StartAttempt(inv, 100)
    ]


# --- lazy state reads


def test_get_lazy_state_void_then_value(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    forward = only_forward(partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1)))
    assert isinstance(forward, ForwardEntry) and forward.index == 2
    msg_type, _, notif = parse_frame(forward.frame)
    assert msg_type == T.GET_LAZY_STATE_COMPLETION
    assert isinstance(notif, pb.GetLazyStateCompletionNotificationMessage)
    assert notif.completion_id == 1 and notif.WhichOneof("result") == "void"

    _set(partition, inv, b"count", b"7")
    forward = only_forward(partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=3)))
    assert forward.index == 5
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.GetLazyStateCompletionNotificationMessage)
    assert notif.completion_id == 3 and notif.WhichOneof("result") == "value"
    assert notif.value.content == b"7"

    assert partition.journal_types(inv) == [
        T.INPUT,
        T.GET_LAZY_STATE,
        T.GET_LAZY_STATE_COMPLETION,
        T.SET_STATE,
        T.GET_LAZY_STATE,
        T.GET_LAZY_STATE_COMPLETION,
    ]
    assert partition.status(inv).completions == [1, 3]


def test_get_lazy_state_empty_value_is_a_value_not_void(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    _set(partition, inv, b"empty", b"")
    forward = only_forward(partition.sdk(inv, pb.GetLazyStateCommandMessage(key=b"empty", result_completion_id=1)))
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.GetLazyStateCompletionNotificationMessage)
    assert notif.WhichOneof("result") == "value" and notif.value.content == b""


def test_get_lazy_state_from_a_shared_handler_is_allowed(partition: Partition) -> None:
    writer, _ = _invoke(partition, counter_add("k"))
    _set(partition, writer, b"count", b"5")
    reader, _ = _invoke(partition, counter_get("k"), request_id=2)
    forward = only_forward(partition.sdk(reader, pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1)))
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.GetLazyStateCompletionNotificationMessage)
    assert notif.value.content == b"5"


def test_get_lazy_state_keys_are_sorted(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    for name in (b"zeta", b"alpha", b"mid", b"Beta"):
        _set(partition, inv, name, b"1")
    forward = only_forward(partition.sdk(inv, pb.GetLazyStateKeysCommandMessage(result_completion_id=1)))
    msg_type, _, notif = parse_frame(forward.frame)
    assert msg_type == T.GET_LAZY_STATE_KEYS_COMPLETION
    assert isinstance(notif, pb.GetLazyStateKeysCompletionNotificationMessage)
    assert notif.completion_id == 1
    assert list(notif.state_keys.keys) == [b"Beta", b"alpha", b"mid", b"zeta"]
    _, stored = partition.journal(inv)[-1]
    assert stored == notif


def test_get_lazy_state_keys_of_an_empty_object(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_add("k"))
    forward = only_forward(partition.sdk(inv, pb.GetLazyStateKeysCommandMessage(result_completion_id=1)))
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.GetLazyStateKeysCompletionNotificationMessage)
    assert notif.HasField("state_keys") and list(notif.state_keys.keys) == []


def test_eager_state_commands_are_stored_without_notification(partition: Partition) -> None:
    inv, _ = _invoke(partition, counter_get("k"))
    get = pb.GetEagerStateCommandMessage(key=b"count", value=pb.Value(content=b"1"))
    assert partition.sdk(inv, get) == []
    assert partition.sdk(inv, pb.GetEagerStateKeysCommandMessage(value=pb.StateKeys(keys=[b"count"]))) == []
    assert partition.journal_types(inv) == [T.INPUT, T.GET_EAGER_STATE, T.GET_EAGER_STATE_KEYS]
    partition.sdk(inv, pb.OutputCommandMessage(value=pb.Value(content=b"1")))
    done = [a for a in partition.apply(EndCmd(inv, partition.attempt(inv))) if isinstance(a, ReplyDone)]
    assert done == [ReplyDone(sink(1), inv, Outcome(value=b"1"))]


def test_state_write_from_a_workflow_shared_handler_aborts_the_attempt(tmp_path: Path) -> None:
    """PROTOCOL.md 8.1: state writes need an exclusive/workflow handler (not SHARED), for workflows too."""
    base = make_schema()
    workflow = ServiceSchema(
        name="Signup",
        ty="Workflow",
        handlers={"run": HandlerSchema(name="run", ty="Workflow"), "status": HandlerSchema(name="status", ty="Shared")},
        deployment_id=DEPLOYMENT_ID,
    )
    schema = msgspec.structs.replace(base, services={**base.services, "Signup": workflow})
    p = Partition(tmp_path / "wf", schema=schema)
    try:
        run, _ = _invoke(p, Target("Signup", "run", "alice", "workflow", True))
        assert _set(p, run, b"stage", b"1") == []  # the workflow's run handler may write
        shared, _ = _invoke(p, Target("Signup", "status", "alice", "workflow", False), request_id=2)
        actions = _set(p, shared, b"stage", b"2")
        assert [type(a) for a in actions] == [AbortAttempt]
        assert p.state("Signup", "alice") == {b"stage": b"1"}
    finally:
        p.close()
