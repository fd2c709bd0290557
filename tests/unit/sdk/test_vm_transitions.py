"""The VM's state machine: every legal transition driven through the public API, illegal ones refused, and each
public operation in each state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from restate.protocol import content_type, encode_message, pb
from restate.sdk.exceptions import VMFailure
from restate.sdk.vm import VM
from restate.sdk.vm_state import (
    OPEN_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransitionError,
    VMEvent,
    VMState,
    next_state,
)
from restate.sdk.vm_types import CANCEL_HANDLE, NOT_READY, SUSPENDED, WAIT_EXTERNAL, Failure, RunRetryConfig
from tests.unit.sdk.vmkit import T, cmd, frames, input_cmd, sleep_done, start, types, vm

S, E = VMState, VMEvent


def _sleep(cid: int) -> bytes:
    return cmd(pb.SleepCommandMessage(wake_up_time=1, result_completion_id=cid))


def _drained(machine: VM) -> VM:
    machine.take_output()
    return machine


# --- a VM in each state, its output drained ----------------------------------------------------


def waiting_start() -> VM:
    return VM(content_type(6))


def waiting_replay_entries() -> VM:
    return vm(start(2), input_cmd())  # one replayed entry still missing


def replaying() -> VM:
    return vm(start(3), input_cmd(), _sleep(1), _sleep(2), closed=True)


def processing() -> VM:
    machine = vm(start(), input_cmd(), closed=True)
    machine.sys_input()
    return machine


def suspended() -> VM:
    machine = processing()
    machine.do_progress(machine.sys_sleep(5, now_ms=0))
    return _drained(machine)


def ended() -> VM:
    machine = processing()
    machine.sys_write_output_success(b"1")
    machine.sys_end()
    return _drained(machine)


def failed() -> VM:
    """Failed by the VM (a protocol violation): the failure is sticky."""
    machine = waiting_start()
    machine.notify_input(input_cmd())  # the StartMessage must come first
    return _drained(machine)


def failed_by_user_error() -> VM:
    """Failed by user code (notify_error): no sticky failure."""
    machine = processing()
    machine.notify_error("boom")
    return _drained(machine)


BUILDERS: dict[VMState, Callable[[], VM]] = {
    S.WAITING_START: waiting_start,
    S.WAITING_REPLAY_ENTRIES: waiting_replay_entries,
    S.REPLAYING: replaying,
    S.PROCESSING: processing,
    S.SUSPENDED: suspended,
    S.ENDED: ended,
    S.FAILED: failed,
}


@pytest.mark.parametrize("state", list(VMState), ids=lambda s: s.name)
def test_each_builder_reaches_its_state(state: VMState) -> None:
    machine = BUILDERS[state]()
    assert machine.state is state
    assert machine.take_output() == b""


# --- every legal transition, through the public API --------------------------------------------


def _replaying_then(then: Callable[[VM], Any]) -> Callable[[VM], Any]:
    def trigger(machine: VM) -> Any:
        machine.sys_input()
        return then(machine)

    return trigger


def _mismatch(machine: VM) -> None:
    with pytest.raises(VMFailure):
        machine.sys_set_state("a", b"1")  # the journal has a sleep here


def _user_error(machine: VM) -> None:
    machine.notify_error("boom")


TRIGGERS: dict[tuple[VMState, VMEvent], tuple[Callable[[VM], Any], list[int]]] = {
    # (from, event): (what the handler or the transport does, the message types it writes)
    (S.WAITING_START, E.START_RECEIVED): (lambda m: m.notify_input(start(2)), []),
    (S.WAITING_START, E.ERROR_WRITTEN): (lambda m: m.notify_input_closed(), [T.ERROR]),
    (S.WAITING_REPLAY_ENTRIES, E.REPLAY_RECEIVED): (lambda m: m.notify_input(_sleep(1)), []),
    (S.WAITING_REPLAY_ENTRIES, E.ERROR_WRITTEN): (lambda m: m.notify_input_closed(), [T.ERROR]),
    (S.REPLAYING, E.REPLAY_CONSUMED): (
        _replaying_then(lambda m: [m.sys_sleep(1, now_ms=0), m.sys_sleep(1, now_ms=0)]),
        [],
    ),
    (S.REPLAYING, E.SUSPENSION_WRITTEN): (
        _replaying_then(lambda m: m.do_progress(m.sys_sleep(1, now_ms=0))),
        [T.SUSPENSION],
    ),
    (S.REPLAYING, E.END_WRITTEN): (_replaying_then(lambda m: m.sys_end()), [T.END]),
    (S.REPLAYING, E.ERROR_WRITTEN): (_replaying_then(_mismatch), [T.ERROR]),
    (S.PROCESSING, E.SUSPENSION_WRITTEN): (lambda m: m.do_progress(m.sys_sleep(5, now_ms=0)), [T.SLEEP, T.SUSPENSION]),
    (S.PROCESSING, E.END_WRITTEN): (lambda m: m.sys_end(), [T.END]),
    (S.PROCESSING, E.ERROR_WRITTEN): (_user_error, [T.ERROR]),
}


def test_every_transition_of_the_table_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(TRANSITIONS)


@pytest.mark.parametrize("move", list(TRIGGERS), ids=lambda m: f"{m[0].name}-{m[1].name}")
def test_each_legal_transition(move: tuple[VMState, VMEvent]) -> None:
    trigger, written = TRIGGERS[move]
    machine = BUILDERS[move[0]]()
    trigger(machine)
    assert machine.state is TRANSITIONS[move]
    assert types(machine.take_output()) == written


def test_the_happy_path_visits_the_states_in_order() -> None:
    machine = VM(content_type(6))
    seen = [machine.state]
    for step in (
        lambda: machine.notify_input(start(2)),
        lambda: machine.notify_input(input_cmd()),
        lambda: machine.notify_input(cmd(pb.SetStateCommandMessage(key=b"a", value=pb.Value(content=b"1")))),
        machine.sys_input,
        lambda: machine.sys_set_state("a", b"1"),
        lambda: machine.sys_write_output_success(b"1"),
        machine.sys_end,
    ):
        step()
        if machine.state is not seen[-1]:
            seen.append(machine.state)
    assert seen == [S.WAITING_START, S.WAITING_REPLAY_ENTRIES, S.REPLAYING, S.PROCESSING, S.ENDED]


# --- illegal transitions ------------------------------------------------------------------------

ILLEGAL = [(s, e) for s, e in itertools.product(VMState, VMEvent) if (s, e) not in TRANSITIONS]


def test_terminal_states_have_no_way_out_and_every_other_state_can_fail() -> None:
    for state in TERMINAL_STATES:
        assert all((state, event) in ILLEGAL for event in VMEvent)
    for state in set(VMState) - TERMINAL_STATES:
        assert TRANSITIONS[(state, E.ERROR_WRITTEN)] is S.FAILED
    assert OPEN_STATES == {S.REPLAYING, S.PROCESSING}


@pytest.mark.parametrize("move", ILLEGAL, ids=lambda m: f"{m[0].name}-{m[1].name}")
def test_an_illegal_transition_is_refused(move: tuple[VMState, VMEvent]) -> None:
    state, event = move
    with pytest.raises(IllegalTransitionError, match=f"illegal VM transition: {event.name} in state {state.name}"):
        next_state(state, event)
    machine = BUILDERS[state]()
    with pytest.raises(IllegalTransitionError):
        machine._move(event)
    assert machine.state is state  # unchanged


def test_the_state_is_read_only() -> None:
    machine = processing()
    with pytest.raises(AttributeError):
        machine.state = S.ENDED  # type: ignore[misc]


# --- each user operation in each state ----------------------------------------------------------

USER_OPS: dict[str, Callable[[VM], Any]] = {
    "sys_get_state": lambda m: m.sys_get_state("a"),
    "sys_get_state_keys": lambda m: m.sys_get_state_keys(),
    "sys_set_state": lambda m: m.sys_set_state("a", b"1"),
    "sys_clear_state": lambda m: m.sys_clear_state("a"),
    "sys_clear_all_state": lambda m: m.sys_clear_all_state(),
    "sys_sleep": lambda m: m.sys_sleep(10, now_ms=5),
    "sys_call": lambda m: m.sys_call("Svc", "h", b"{}", key="k", idempotency_key="i", headers=[("x", "y")]),
    "sys_send": lambda m: m.sys_send("Svc", "h", b"{}", delay=5, now_ms=1),
    "sys_awakeable": lambda m: m.sys_awakeable(),
    "sys_complete_awakeable": lambda m: m.sys_complete_awakeable("sign_1abc", b"1"),
    "sys_signal": lambda m: m.sys_signal("s"),
    "sys_complete_signal": lambda m: m.sys_complete_signal("inv_1", "s", None, Failure(500, "no")),
    "sys_cancel": lambda m: m.sys_cancel("inv_1"),
    "sys_get_promise": lambda m: m.sys_get_promise("p"),
    "sys_peek_promise": lambda m: m.sys_peek_promise("p"),
    "sys_complete_promise": lambda m: m.sys_complete_promise("p", b"1"),
    "sys_attach_invocation": lambda m: m.sys_attach_invocation("inv_1"),
    "sys_get_invocation_output": lambda m: m.sys_get_invocation_output("inv_1"),
    "sys_write_output_success": lambda m: m.sys_write_output_success(b"1"),
    "sys_write_output_failure": lambda m: m.sys_write_output_failure(Failure(400, "bad")),
    "sys_run": lambda m: m.sys_run("step"),
    "sys_end": lambda m: m.sys_end(),
    "sys_input": lambda m: m.sys_input(),
    "do_progress": lambda m: m.do_progress(CANCEL_HANDLE),
}

REFUSALS = {
    S.WAITING_START: "the replayed journal was not received yet",
    S.WAITING_REPLAY_ENTRIES: "the replayed journal was not received yet",
    S.SUSPENDED: "the invocation attempt is over (suspended)",
    S.ENDED: "the invocation attempt is over (ended)",
}


@pytest.mark.parametrize("state", list(REFUSALS), ids=lambda s: s.name)
@pytest.mark.parametrize("op", list(USER_OPS))
def test_user_operations_are_refused_outside_the_open_states(state: VMState, op: str) -> None:
    machine = BUILDERS[state]()
    with pytest.raises(VMFailure) as raised:
        USER_OPS[op](machine)
    assert (raised.value.code, raised.value.reason) == (571, REFUSALS[state])
    assert machine.state is state
    assert machine.take_output() == b""


@pytest.mark.parametrize("op", list(USER_OPS))
def test_user_operations_after_a_vm_failure_raise_that_failure(op: str) -> None:
    machine = failed()
    with pytest.raises(VMFailure) as raised:
        USER_OPS[op](machine)
    assert raised.value is machine.failure
    assert machine.take_output() == b""


@pytest.mark.parametrize("op", list(USER_OPS))
def test_user_operations_after_a_user_error_are_refused(op: str) -> None:
    machine = failed_by_user_error()
    with pytest.raises(VMFailure) as raised:
        USER_OPS[op](machine)
    assert (raised.value.code, raised.value.reason) == (571, "the invocation attempt is over (failed)")
    assert machine.take_output() == b""


WRITES = {  # what each operation writes while processing
    "sys_get_state": [T.GET_LAZY_STATE],  # processing() has a partial state map: unknown keys are asked for
    "sys_get_state_keys": [T.GET_LAZY_STATE_KEYS],
    "sys_set_state": [T.SET_STATE],
    "sys_clear_state": [T.CLEAR_STATE],
    "sys_clear_all_state": [T.CLEAR_ALL_STATE],
    "sys_sleep": [T.SLEEP],
    "sys_call": [T.CALL],
    "sys_send": [T.ONE_WAY_CALL],
    "sys_awakeable": [],
    "sys_complete_awakeable": [T.COMPLETE_AWAKEABLE],
    "sys_signal": [],
    "sys_complete_signal": [T.SEND_SIGNAL],
    "sys_cancel": [T.SEND_SIGNAL],
    "sys_get_promise": [T.GET_PROMISE],
    "sys_peek_promise": [T.PEEK_PROMISE],
    "sys_complete_promise": [T.COMPLETE_PROMISE],
    "sys_attach_invocation": [T.ATTACH_INVOCATION],
    "sys_get_invocation_output": [T.GET_INVOCATION_OUTPUT],
    "sys_write_output_success": [T.OUTPUT],
    "sys_write_output_failure": [T.OUTPUT],
    "sys_run": [T.RUN],
}


def test_every_command_writing_operation_is_covered() -> None:
    assert set(WRITES) == set(USER_OPS) - {"sys_end", "sys_input", "do_progress"}


@pytest.mark.parametrize("op", list(WRITES))
def test_each_operation_while_processing_writes_its_command(op: str) -> None:
    machine = processing()
    USER_OPS[op](machine)
    assert types(machine.take_output()) == WRITES[op]
    assert machine.state is S.PROCESSING


@pytest.mark.parametrize("op", list(WRITES))
def test_each_operation_while_replaying_matches_its_command_and_writes_nothing(op: str) -> None:
    live = processing()
    live_result = USER_OPS[op](live)
    recorded = [encode_message(msg) for _, msg in frames(live.take_output())]
    trailer = _sleep(99)  # one more recorded command: the VM is still replaying after `op`
    machine = vm(start(2 + len(recorded)), input_cmd(), *recorded, trailer, closed=True)
    machine.sys_input()
    assert USER_OPS[op](machine) == live_result
    assert machine.state is S.REPLAYING
    assert machine.take_output() == b""
    machine.sys_sleep(1, now_ms=0)  # the trailer: the replay is consumed
    assert machine.state is S.PROCESSING


def test_reading_the_input_twice_is_a_protocol_violation() -> None:
    machine = processing()
    with pytest.raises(VMFailure) as raised:
        machine.sys_input()
    assert raised.value.code == 571
    assert raised.value.reason == "the input was read already (it is the first replayed command)"
    assert machine.state is S.FAILED
    assert types(machine.take_output()) == [T.ERROR]


def test_do_progress_in_the_open_states() -> None:
    machine = vm(start(), input_cmd())  # input still open
    machine.sys_input()
    assert machine.do_progress(machine.sys_sleep(5, now_ms=0)) is WAIT_EXTERNAL
    assert machine.state is S.PROCESSING


# --- the other public operations in each state ---------------------------------------------------

STATE_BUILDERS = {**{s.name: b for s, b in BUILDERS.items()}, "FAILED_BY_USER_ERROR": failed_by_user_error}

#                        ready  replaying processing closed
PREDICATES = {
    "WAITING_START": (False, False, False, False),
    "WAITING_REPLAY_ENTRIES": (False, False, False, False),
    "REPLAYING": (True, True, False, False),
    "PROCESSING": (True, False, True, False),
    "SUSPENDED": (False, False, False, True),
    "ENDED": (False, False, False, True),
    "FAILED": (False, False, False, True),
    "FAILED_BY_USER_ERROR": (False, False, False, True),
}


@pytest.mark.parametrize("name", list(STATE_BUILDERS))
def test_predicates_and_response_head(name: str) -> None:
    machine = STATE_BUILDERS[name]()
    got = (machine.is_ready_to_execute(), machine.is_replaying(), machine.is_processing(), machine.is_closed())
    assert got == PREDICATES[name]
    assert machine.response_head() == (200, [("content-type", content_type(6))])
    assert not machine.is_completed(CANCEL_HANDLE)


@pytest.mark.parametrize("name", list(STATE_BUILDERS))
def test_notify_error(name: str) -> None:
    machine = STATE_BUILDERS[name]()
    before = machine.state
    machine.notify_error("boom", delay_ms=10)
    if before in TERMINAL_STATES:
        assert (machine.state, machine.take_output()) == (before, b"")  # nothing after the end
        return
    ((msg_type, error),) = frames(machine.take_output())
    assert (msg_type, error.code, error.message, error.next_retry_delay) == (T.ERROR, 500, "boom", 10)
    assert machine.state is S.FAILED
    assert machine.failure is None  # user code failed, not the VM: the attempt is just over


@pytest.mark.parametrize("name", list(STATE_BUILDERS))
def test_notify_input_closed(name: str) -> None:
    machine = STATE_BUILDERS[name]()
    before = machine.state
    machine.notify_input_closed()
    assert machine.input_closed
    if before in (S.WAITING_START, S.WAITING_REPLAY_ENTRIES):
        assert machine.state is S.FAILED
        ((_, error),) = frames(machine.take_output())
        assert (error.code, error.message) == (571, "input closed before the replayed journal was complete")
    else:
        assert (machine.state, machine.take_output()) == (before, b"")


NOTIFY_INPUT_STATE = {  # the state after a sleep completion arrives
    "WAITING_START": S.FAILED,  # the StartMessage must come first
    "WAITING_REPLAY_ENTRIES": S.REPLAYING,  # it was the missing replayed entry
}


@pytest.mark.parametrize("name", list(STATE_BUILDERS))
def test_notify_input(name: str) -> None:
    machine = STATE_BUILDERS[name]()
    before = machine.state
    machine.notify_input(sleep_done(1))
    assert machine.state is NOTIFY_INPUT_STATE.get(name, before)
    assert types(machine.take_output()) == ([T.ERROR] if name == "WAITING_START" else [])
    if before in OPEN_STATES:
        assert 1 in machine.results.known


def test_an_unexpected_message_names_the_state() -> None:
    machine = processing()
    machine.notify_input(start())
    ((_, error),) = frames(machine.take_output())
    assert (error.code, error.message) == (571, "unexpected message 0x0000 in state PROCESSING")


TAKE_NOTIFICATION = {
    "WAITING_START": NOT_READY,
    "WAITING_REPLAY_ENTRIES": NOT_READY,
    "REPLAYING": NOT_READY,
    "PROCESSING": NOT_READY,
    "SUSPENDED": SUSPENDED,
    "ENDED": SUSPENDED,
    "FAILED_BY_USER_ERROR": SUSPENDED,
}


@pytest.mark.parametrize("name", list(STATE_BUILDERS))
def test_take_notification_without_a_result(name: str) -> None:
    machine = STATE_BUILDERS[name]()
    if name == "FAILED":
        with pytest.raises(VMFailure) as raised:
            machine.take_notification(CANCEL_HANDLE)
        assert raised.value is machine.failure
    else:
        assert machine.take_notification(CANCEL_HANDLE) is TAKE_NOTIFICATION[name]


PROPOSALS: dict[str, Callable[[VM, int], None]] = {
    "success": lambda m, h: m.propose_run_completion_success(h, b"1"),
    "failure": lambda m, h: m.propose_run_completion_failure(h, Failure(500, "no")),
    "transient": lambda m, h: m.propose_run_completion_transient(h, Failure(500, "no"), 1, RunRetryConfig()),
}


@pytest.mark.parametrize("name", [n for n in STATE_BUILDERS if n not in ("REPLAYING", "PROCESSING")])
@pytest.mark.parametrize("proposal", list(PROPOSALS))
def test_run_proposals_outside_the_open_states_are_dropped(name: str, proposal: str) -> None:
    machine = STATE_BUILDERS[name]()
    before = machine.state
    PROPOSALS[proposal](machine, 17)
    assert (machine.state, machine.take_output()) == (before, b"")


@pytest.mark.parametrize("proposal", list(PROPOSALS))
def test_run_proposals_while_processing(proposal: str) -> None:
    machine = processing()
    run = machine.sys_run("step")
    machine.take_output()
    PROPOSALS[proposal](machine, run.handle)
    if proposal == "transient":  # the attempt fails, to be retried by the server
        assert (machine.state, types(machine.take_output())) == (S.FAILED, [T.ERROR])
    else:
        assert (machine.state, types(machine.take_output())) == (S.PROCESSING, [T.PROPOSE_RUN_COMPLETION])
