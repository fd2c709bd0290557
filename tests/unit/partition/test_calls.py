"""Calls, one-way calls, signals and the outbox between partitions (exactly-once delivery)."""

from __future__ import annotations

from pathlib import Path

from restate import ids
from restate.partition.actions import AbortAttempt, AckOutbox, ForwardEntry, ShipOutbox, StartAttempt
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import AttemptFailedCmd, EndCmd, InvokeCmd, OutboxAckCmd, OutboxCmd
from restate.partition.lifecycle import receive_outbox
from restate.protocol import MessageType, pb
from restate.wire import CallerSink, Failure, InvocationRequest, InvocationResponse, Outcome, Signal
from tests.unit.partition.harness import (
    GREETER,
    NOW,
    NUM_PARTITIONS,
    Partition,
    counter_add,
    parse_frame,
    request,
    sink,
    the_forward,
)

T = MessageType


def _started(p: Partition, target=GREETER) -> bytes:  # type: ignore[no-untyped-def]
    req = request(target)
    p.apply(InvokeCmd(req, sink()))
    return req.invocation_id


def _call(service: str = "Counter", handler: str = "add", key: str = "k", **kw: object) -> pb.CallCommandMessage:
    return pb.CallCommandMessage(
        service_name=service,
        handler_name=handler,
        key=key,
        parameter=b'{"n":1}',
        headers=[pb.Header(key="x-h", value="v")],
        invocation_id_notification_idx=1,
        result_completion_id=2,
        name="c",
        **kw,  # type: ignore[arg-type]
    )


def _shipped(actions: list) -> list[ShipOutbox]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, ShipOutbox)]


# --- call


def test_call_ships_a_request_to_the_callee_partition(partition: Partition) -> None:
    caller = _started(partition)
    actions = partition.sdk(caller, _call())

    [ship] = _shipped(actions)
    req = ship.message
    assert isinstance(req, InvocationRequest)
    callee = ids.InvocationId.from_bytes(req.invocation_id)
    assert callee.partition_key == ids.partition_key_for("k")  # same key, same partition key
    assert ship.destination == ids.partition_for(callee.partition_key, NUM_PARTITIONS)
    assert 0 <= ship.destination < NUM_PARTITIONS
    assert req.target == counter_add("k")
    assert req.input == b'{"n":1}'
    assert req.headers == [("x-h", "v")]
    assert req.caller == CallerSink(caller, 2)
    assert req.caller_id == caller
    assert req.execute_at_ms is None and req.idempotency_key is None

    # stored in the outbox under (destination, seq) in the same batch
    assert list(partition.outbox()) == [(ship.destination, ship.seq, req)]
    assert ship.seq == 1

    # Call at index 1, then the CallInvocationId notification, forwarded live
    assert partition.journal_types(caller) == [T.INPUT, T.CALL, T.CALL_INVOCATION_ID]
    _, notif = partition.journal(caller)[2]
    assert isinstance(notif, pb.CallInvocationIdCompletionNotificationMessage)
    assert notif.completion_id == 1
    assert notif.invocation_id == str(callee)
    forward = the_forward(actions)
    assert forward.index == 2
    assert parse_frame(forward.frame)[2] == notif
    status = partition.status(caller)
    assert status.completions == [1]
    assert status.command_count == 1


def test_outbox_sequence_is_per_destination(partition: Partition) -> None:
    caller = _started(partition)
    seqs: dict[int, list[int]] = {}
    for i in range(12):
        msg = _call(key=f"key-{i}")
        msg.invocation_id_notification_idx = 2 * i + 1
        msg.result_completion_id = 2 * i + 2
        [ship] = _shipped(partition.sdk(caller, msg))
        seqs.setdefault(ship.destination, []).append(ship.seq)
    for got in seqs.values():
        assert got == list(range(1, len(got) + 1))


def test_call_to_an_unknown_service_aborts_and_is_not_stored(partition: Partition) -> None:
    caller = _started(partition)
    actions = partition.sdk(caller, _call(service="NoSuchService", handler="h", key=""))
    [abort] = actions
    assert isinstance(abort, AbortAttempt) and abort.invocation_id == caller
    assert "NoSuchService/h" in abort.reason
    assert partition.journal_types(caller) == [T.INPUT]
    assert list(partition.outbox()) == []
    status = partition.status(caller)
    assert status.command_count == 0 and status.poisoned


def test_call_to_an_unknown_handler_or_with_key_for_a_service_aborts(partition: Partition) -> None:
    caller = _started(partition)
    [abort] = partition.sdk(caller, _call(handler="nope"))
    assert isinstance(abort, AbortAttempt)

    caller2 = _started(partition)
    [abort] = partition.sdk(caller2, _call(service="Greeter", handler="greet", key="k"))
    assert isinstance(abort, AbortAttempt)
    assert partition.journal_types(caller2) == [T.INPUT]


def test_empty_idempotency_key_aborts(partition: Partition) -> None:
    caller = _started(partition)
    [abort] = partition.sdk(caller, _call(idempotency_key=""))
    assert isinstance(abort, AbortAttempt)
    assert partition.journal_types(caller) == [T.INPUT]


def test_callee_ids_are_deterministic(tmp_path: Path) -> None:
    """Derived from caller + command index: re-applying the same history gives the same callee."""
    caller = request().invocation_id
    got = []
    for name in ("a", "b"):
        p = Partition(tmp_path / name)
        try:
            p.apply(InvokeCmd(request(invocation_id=caller), sink()))
            first = _shipped(p.sdk(caller, _call(service="Greeter", handler="greet", key="")))[0].message
            msg = _call(service="Greeter", handler="greet", key="")
            msg.invocation_id_notification_idx, msg.result_completion_id = 3, 4
            second = _shipped(p.sdk(caller, msg))[0].message
            assert isinstance(first, InvocationRequest) and isinstance(second, InvocationRequest)
            got.append((first.invocation_id, second.invocation_id))
        finally:
            p.close()
    assert got[0] == got[1]
    assert got[0][0] != got[0][1]  # a different command index is a different callee


def test_idempotent_calls_from_different_callers_share_the_callee(partition: Partition) -> None:
    a = _started(partition)
    b = _started(partition)
    [ship_a] = _shipped(partition.sdk(a, _call(idempotency_key="once")))
    [ship_b] = _shipped(partition.sdk(b, _call(idempotency_key="once")))
    assert isinstance(ship_a.message, InvocationRequest) and isinstance(ship_b.message, InvocationRequest)
    assert ship_a.message.invocation_id == ship_b.message.invocation_id
    assert ship_a.message.idempotency_key == "once"
    twice = _call(idempotency_key="twice")
    twice.invocation_id_notification_idx, twice.result_completion_id = 5, 6
    [ship_c] = _shipped(partition.sdk(a, twice))
    assert isinstance(ship_c.message, InvocationRequest)
    assert ship_c.message.invocation_id != ship_a.message.invocation_id


def test_one_way_call_with_a_future_invoke_time(partition: Partition) -> None:
    caller = _started(partition)
    at = NOW + 10_000
    msg = pb.OneWayCallCommandMessage(
        service_name="Greeter", handler_name="greet", parameter=b"p", invoke_time=at, invocation_id_notification_idx=1
    )
    actions = partition.sdk(caller, msg)
    [ship] = _shipped(actions)
    req = ship.message
    assert isinstance(req, InvocationRequest)
    assert req.execute_at_ms == at
    assert req.caller is None and req.caller_id == caller
    assert req.target == GREETER
    assert partition.journal_types(caller) == [T.INPUT, T.ONE_WAY_CALL, T.CALL_INVOCATION_ID]

    # invoke_time now or in the past means "now"
    past = pb.OneWayCallCommandMessage(
        service_name="Greeter", handler_name="greet", invoke_time=NOW, invocation_id_notification_idx=2
    )
    [ship] = _shipped(partition.sdk(caller, past))
    assert isinstance(ship.message, InvocationRequest) and ship.message.execute_at_ms is None


def test_send_signal_and_complete_awakeable_ship_signals(partition: Partition) -> None:
    caller = _started(partition)
    target = ids.InvocationId.from_bytes(request().invocation_id)
    send = pb.SendSignalCommandMessage(target_invocation_id=str(target), idx=1, void=pb.Void())
    [ship] = _shipped(partition.sdk(caller, send))
    assert ship.message == Signal(target.to_bytes(), 1, None, None)
    assert ship.destination == ids.partition_for(target.partition_key, NUM_PARTITIONS)

    complete = pb.CompleteAwakeableCommandMessage(
        awakeable_id=ids.awakeable_id(target, 17), value=pb.Value(content=b"v")
    )
    [ship] = _shipped(partition.sdk(caller, complete))
    assert ship.message == Signal(target.to_bytes(), 17, None, Outcome(value=b"v"))
    assert partition.journal_types(caller) == [T.INPUT, T.SEND_SIGNAL, T.COMPLETE_AWAKEABLE]

    [abort] = partition.sdk(caller, pb.CompleteAwakeableCommandMessage(awakeable_id="sign_bogus", value=pb.Value()))
    assert isinstance(abort, AbortAttempt)


# --- receiving from the outbox


def test_outbox_envelopes_are_applied_once_and_in_order(partition: Partition) -> None:
    r1, r2, r3 = (request() for _ in range(3))

    actions = partition.apply(OutboxCmd(2, 1, r1))
    assert AckOutbox(2, 1) in actions
    assert StartAttempt(r1.invocation_id, 0) in actions
    assert partition.tables.last_applied(2) == 1

    again = partition.apply(OutboxCmd(2, 1, r1))
    assert again == [AckOutbox(2, 1)]  # acknowledged, not re-applied

    gap = partition.apply(OutboxCmd(2, 3, r3))
    assert gap == []  # not applied, not acknowledged
    assert partition.tables.status(r3.invocation_id) is None
    assert partition.tables.last_applied(2) == 1

    actions = partition.apply(OutboxCmd(2, 2, r2))
    assert AckOutbox(2, 2) in actions
    assert partition.status(r2.invocation_id).status == "invoked"
    # sources are independent
    assert partition.tables.last_applied(3) == 0
    assert AckOutbox(3, 1) in partition.apply(OutboxCmd(3, 1, r3))


def test_receive_outbox_reports_whether_to_acknowledge(partition: Partition) -> None:
    txn = partition.store.transaction()
    ctx = ApplyContext(txn, NOW, partition.schema, 0, NUM_PARTITIONS, False)
    assert receive_outbox(ctx, 1, 1, request()) is True
    assert receive_outbox(ctx, 1, 1, request()) is True
    assert receive_outbox(ctx, 1, 3, request()) is False
    assert receive_outbox(ctx, 1, 2, request()) is True
    assert ctx.tables.last_applied(1) == 2


def test_request_from_another_partition_keeps_the_caller(partition: Partition) -> None:
    caller = CallerSink(request().invocation_id, 2)
    req = request(counter_add("k"), caller=caller)
    partition.apply(OutboxCmd(1, 1, req))
    status = partition.status(req.invocation_id)
    assert status.callers == [caller]
    assert status.ingress_sinks == []

    partition.sdk(req.invocation_id, pb.OutputCommandMessage(value=pb.Value(content=b"5")))
    [ship] = _shipped(partition.apply(EndCmd(req.invocation_id, partition.attempt(req.invocation_id))))
    assert ship.message == InvocationResponse(caller, Outcome(value=b"5"))
    assert ship.destination == ids.partition_for(ids.InvocationId.from_bytes(caller.invocation_id).partition_key, 4)


def test_repeated_call_to_a_completed_callee_answers_at_once(partition: Partition) -> None:
    first = CallerSink(request().invocation_id, 2)
    req = request(counter_add("k"), caller=first, idempotency_key="i")
    partition.apply(OutboxCmd(1, 1, req))
    partition.apply(EndCmd(req.invocation_id, partition.attempt(req.invocation_id)))
    second = CallerSink(request().invocation_id, 4)
    actions = partition.apply(
        OutboxCmd(1, 2, request(counter_add("k"), invocation_id=req.invocation_id, caller=second))
    )
    assert [s.message for s in _shipped(actions)] == [InvocationResponse(second, Outcome(value=b""))]


def test_invocation_response_becomes_a_call_completion(partition: Partition) -> None:
    caller = _started(partition)
    partition.sdk(caller, _call())
    partition.suspend_v6(caller, completions=[2], signals=[1])

    response = InvocationResponse(CallerSink(caller, 2), Outcome(value=b"42"))
    actions = partition.apply(OutboxCmd(1, 1, response))
    assert AckOutbox(1, 1) in actions
    assert StartAttempt(caller, 0) in actions
    assert partition.journal_types(caller) == [T.INPUT, T.CALL, T.CALL_INVOCATION_ID, T.CALL_COMPLETION]
    _, notif = partition.journal(caller)[3]
    assert isinstance(notif, pb.CallCompletionNotificationMessage)
    assert notif.completion_id == 2 and notif.value.content == b"42"


def test_failed_invocation_response_is_a_failed_completion(partition: Partition) -> None:
    caller = _started(partition)
    partition.sdk(caller, _call())
    failure = Failure(418, "nope", [("k", "v")])
    forward = the_forward(
        partition.apply(OutboxCmd(1, 1, InvocationResponse(CallerSink(caller, 2), Outcome(failure=failure))))
    )
    assert isinstance(forward, ForwardEntry)
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.CallCompletionNotificationMessage)
    assert notif.WhichOneof("result") == "failure"
    assert (notif.failure.code, notif.failure.message) == (418, "nope")
    assert [(m.key, m.value) for m in notif.failure.metadata] == [("k", "v")]
    assert partition.status(caller).failed_completions == [2]


def test_signal_delivery_appends_a_signal_notification(partition: Partition) -> None:
    inv = _started(partition)
    partition.suspend_v6(inv, completions=[], signals=[1, 17])
    actions = partition.apply(OutboxCmd(1, 1, Signal(inv, 17, None, Outcome(value=b'"yes"'))))
    assert StartAttempt(inv, 0) in actions
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]
    _, notif = partition.journal(inv)[1]
    assert isinstance(notif, pb.SignalNotificationMessage)
    assert notif.signal_id == 17 and notif.WhichOneof("id") == "signal_id"
    assert notif.value.content == b'"yes"'
    assert partition.status(inv).signals == [17]

    # the same awakeable completed twice: the second is dropped
    partition.apply(OutboxCmd(1, 2, Signal(inv, 17, None, Outcome(value=b'"again"'))))
    assert partition.journal_types(inv) == [T.INPUT, T.SIGNAL]


def test_named_and_void_signals(partition: Partition) -> None:
    inv = _started(partition)
    forward = the_forward(partition.apply(OutboxCmd(1, 1, Signal(inv, None, "go", None))))
    assert isinstance(forward, ForwardEntry)
    _, _, notif = parse_frame(forward.frame)
    assert isinstance(notif, pb.SignalNotificationMessage)
    assert notif.signal_name == "go" and notif.WhichOneof("result") == "void"
    assert partition.status(inv).signal_names == ["go"]


def test_signals_for_unknown_or_completed_invocations_are_dropped(partition: Partition) -> None:
    inv = _started(partition)
    partition.apply(EndCmd(inv, partition.attempt(inv)))
    assert partition.apply(OutboxCmd(1, 1, Signal(inv, 17, None, None))) == [AckOutbox(1, 1)]
    assert partition.apply(OutboxCmd(1, 2, Signal(request().invocation_id, 1, None, None))) == [AckOutbox(1, 2)]


def test_cancel_signal_resumes_a_paused_invocation(partition: Partition) -> None:
    """PROTOCOL.md 8.1: a notification for a paused invocation resumes it only for the CANCEL signal."""
    inv = _started(partition)
    partition.apply(AttemptFailedCmd(inv, partition.attempt(inv), Failure(500, "x"), retry_in_ms=None, give_up="pause"))
    assert partition.apply(OutboxCmd(1, 1, Signal(inv, 17, None, None))) == [AckOutbox(1, 1)]
    assert partition.status(inv).status == "paused"
    actions = partition.apply(OutboxCmd(1, 2, Signal(inv, 1, None, None)))
    assert StartAttempt(inv, 0) in actions
    assert partition.status(inv).status == "invoked"


def test_outbox_ack_deletes_the_row(partition: Partition) -> None:
    caller = _started(partition)
    [ship] = _shipped(partition.sdk(caller, _call()))
    assert len(list(partition.outbox())) == 1
    assert partition.apply(OutboxAckCmd(ship.destination, ship.seq)) == []
    assert list(partition.outbox()) == []
    # a duplicate ack is harmless
    assert partition.apply(OutboxAckCmd(ship.destination, ship.seq)) == []


def test_call_round_trip_between_two_partitions(tmp_path: Path) -> None:
    """Caller and callee on two partitions; every envelope is delivered twice (a resend) and applied once."""
    stores = {i: Partition(tmp_path / f"p{i}", partition_id=i) for i in range(NUM_PARTITIONS)}
    try:
        caller_req = request(GREETER, invocation_id=ids.InvocationId(5, b"\x01" * 16).to_bytes())
        home = stores[0]
        home.apply(InvokeCmd(caller_req, sink()))
        caller = caller_req.invocation_id
        [ship] = _shipped(home.sdk(caller, _call(key="far")))
        home.suspend_v6(caller, completions=[2], signals=[1])

        remote = stores[ship.destination]
        for _ in range(2):
            acks = [a for a in remote.apply(OutboxCmd(0, ship.seq, ship.message)) if isinstance(a, AckOutbox)]
            assert acks == [AckOutbox(0, ship.seq)]
        home.apply(OutboxAckCmd(ship.destination, ship.seq))
        assert home.outbox() == []

        callee = ship.message.invocation_id  # type: ignore[union-attr]
        remote.sdk(callee, pb.OutputCommandMessage(value=pb.Value(content=b"done")))
        [back] = _shipped(remote.apply(EndCmd(callee, remote.attempt(callee))))
        assert back.destination == 0
        first = home.apply(OutboxCmd(ship.destination, back.seq, back.message))
        assert StartAttempt(caller, 0) in first
        assert home.apply(OutboxCmd(ship.destination, back.seq, back.message)) == [
            AckOutbox(ship.destination, back.seq)
        ]
        assert home.journal_types(caller) == [T.INPUT, T.CALL, T.CALL_INVOCATION_ID, T.CALL_COMPLETION]
    finally:
        for p in stores.values():
            p.close()
