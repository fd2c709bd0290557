"""The VM on replays: gaps in completion ids, journal order, mismatches (570), suspension trees, cancellation."""

from __future__ import annotations

import hashlib

import pytest

from restate.protocol import notification, pb
from restate.sdk.exceptions import VMFailure
from restate.sdk.vm_types import (
    ANY_COMPLETED,
    CANCEL_SIGNALED,
    SUSPENDED,
    WAIT_EXTERNAL,
    AllCompleted,
    ExecuteRun,
    FirstCompleted,
)
from tests.unit.protocol import golden as g
from tests.unit.sdk.vmkit import INVOCATION_ID, T, cmd, frames, input_cmd, run_done, sleep_done, start, types, vm


def _eager(key: str, value: bytes) -> bytes:
    msg = pb.GetEagerStateCommandMessage(key=key.encode())
    msg.value.content = value
    return cmd(msg)


def _sleep(cid: int, name: str = "") -> bytes:
    return cmd(pb.SleepCommandMessage(wake_up_time=1, result_completion_id=cid, name=name))


def test_replay_with_gaps_in_completion_ids() -> None:
    # Attempt 1 read "count" eagerly (that spent completion id 1, not written), slept on id 2, then suspended.
    journal = [input_cmd(b"1"), _eager("count", b"5"), _sleep(2), sleep_done(2)]
    machine = vm(start(4, key="k", state={"count": b"12"}, partial=False), *journal)
    machine.sys_input()
    assert machine.is_replaying()
    got = machine.sys_get_state("count")
    assert machine.take_notification(got) == b"5"  # the journaled value, not the current state
    slept = machine.sys_sleep(10, now_ms=999)
    assert machine.is_processing()
    assert machine.do_progress(slept) is ANY_COMPLETED
    machine.sys_set_state("count", b"6")
    lazy = machine.sys_get_state_keys()
    assert machine.take_notification(lazy) == ["count"]
    assert types(machine.take_output()) == [T.SET_STATE, T.GET_EAGER_STATE_KEYS]  # replayed commands are not rewritten


def test_replayed_lazy_state_read_uses_its_completion() -> None:
    lazy = cmd(pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1))
    done = notification(T.GET_LAZY_STATE_COMPLETION, completion_id=1, value=b"3")
    machine = vm(start(3, key="k"), input_cmd(b"1"), lazy, done)
    machine.sys_input()
    handle = machine.sys_get_state("count")
    assert machine.do_progress(handle) is ANY_COMPLETED
    assert machine.take_notification(handle) == b"3"


def test_replay_reveals_notifications_in_journal_order() -> None:
    # Live, timer 2 fired first and select() picked it; the replay must see the same thing.
    journal = [input_cmd(), _sleep(1), _sleep(2), sleep_done(2), sleep_done(1)]
    machine = vm(start(5), *journal)
    machine.sys_input()
    first, second = machine.sys_sleep(1, now_ms=0), machine.sys_sleep(2, now_ms=0)
    assert machine.do_progress(FirstCompleted([first, second])) is ANY_COMPLETED
    assert machine.is_completed(second) and not machine.is_completed(first)


def test_replayed_run_result_is_not_executed_again() -> None:
    run = cmd(pb.RunCommandMessage(result_completion_id=1, name="step"))
    machine = vm(start(3), input_cmd(), run, run_done(1, b"7"))
    machine.sys_input()
    replayed = machine.sys_run("step")
    assert replayed.replayed
    assert machine.do_progress(replayed.handle) is ANY_COMPLETED
    assert machine.take_notification(replayed.handle) == b"7"
    fresh = machine.sys_run("next")
    assert not fresh.replayed
    assert machine.do_progress(fresh.handle) == ExecuteRun(fresh.handle)


def test_journal_mismatch_is_error_570_with_the_related_command() -> None:
    machine = vm(start(3), input_cmd(b'"x"'), g.SLEEP, g.SLEEP_COMPLETION)
    machine.sys_input()
    with pytest.raises(VMFailure) as raised:
        machine.sys_run("changed")
    assert raised.value.code == 570
    ((msg_type, error),) = frames(machine.take_output())
    assert msg_type == T.ERROR
    assert error.code == 570
    assert error.message.startswith("Found a mismatch between the code paths taken during the previous execution")
    assert "'sleep' (index '1')" in error.message and "'run'" in error.message
    related = (error.related_command_index, error.related_command_type, error.related_command_name)
    assert related == (1, 0x0411, "changed")
    with pytest.raises(VMFailure):  # sticky
        machine.sys_sleep(1, now_ms=0)


def test_mismatch_on_same_command_with_different_parameters() -> None:
    set_state = pb.SetStateCommandMessage(key=b"a")
    set_state.value.content = b"1"
    machine = vm(start(2, key="k"), input_cmd(), cmd(set_state))
    machine.sys_input()
    with pytest.raises(VMFailure) as raised:
        machine.sys_set_state("a", b"2")
    assert raised.value.code == 570
    assert "set state" in raised.value.reason


def test_sleep_replay_ignores_the_wake_up_time() -> None:
    machine = vm(start(2), input_cmd(), _sleep(1, "nap"))
    machine.sys_input()
    machine.sys_sleep(5, name="nap", now_ms=123456)  # a different time now: still the same command
    assert machine.is_processing()


def test_v6_suspension_lists_only_what_is_still_missing() -> None:
    # gather(sleep1, sleep2): after timer 1 fired the replay suspends again on [2] only.
    machine = vm(start(4), input_cmd(), _sleep(1), _sleep(2), sleep_done(1), version=6, closed=True)
    machine.sys_input()
    both = AllCompleted([machine.sys_sleep(1, now_ms=0), machine.sys_sleep(2, now_ms=0)])
    assert machine.do_progress(both) is SUSPENDED
    ((_, suspension),) = frames(machine.take_output())
    assert list(suspension.waiting_completions) == [2]
    assert list(suspension.waiting_signals) == [1]


def test_v7_suspension_tree_for_gather_and_select() -> None:
    machine = vm(start(), input_cmd(), version=7, closed=True)
    machine.sys_input()
    both = AllCompleted([machine.sys_sleep(1, now_ms=0), machine.sys_sleep(2, now_ms=0)])
    assert machine.do_progress(both) is SUSPENDED
    suspension = frames(machine.take_output())[-1][1]
    expected = pb.Future(waiting_signals=[1], combinator_type=pb.Future.FIRST_COMPLETED)
    expected.nested_futures.add(waiting_completions=[1, 2], combinator_type=pb.Future.ALL_COMPLETED)
    assert suspension.awaiting_on == expected

    machine = vm(start(), input_cmd(), version=7, closed=True)
    machine.sys_input()
    _, awakeable = machine.sys_awakeable()
    race = FirstCompleted([machine.sys_sleep(1, now_ms=0), awakeable])
    assert machine.do_progress(race) is SUSPENDED
    suspension = frames(machine.take_output())[-1][1]
    expected = pb.Future(waiting_signals=[1], combinator_type=pb.Future.FIRST_COMPLETED)
    nested = expected.nested_futures.add(waiting_completions=[1], waiting_signals=[17])
    nested.combinator_type = pb.Future.FIRST_COMPLETED
    assert suspension.awaiting_on == expected


def test_no_suspension_while_input_is_open() -> None:
    machine = vm(start(), input_cmd())
    machine.sys_input()
    handle = machine.sys_sleep(1, now_ms=0)
    assert machine.do_progress(handle) is WAIT_EXTERNAL
    machine.notify_input_closed()  # inactivity timeout: the server closed its side
    assert machine.do_progress(handle) is SUSPENDED


def test_cancellation_cancels_child_calls_with_known_ids() -> None:
    machine = vm(start(), input_cmd())
    machine.sys_input()
    call = machine.sys_call("Greeter", "greet", b'"Bob"')
    machine.notify_input(g.CALL_INVOCATION_ID)
    assert machine.do_progress(call.result_handle) is WAIT_EXTERNAL
    machine.take_output()
    machine.notify_input(g.SIGNAL_CANCEL)
    assert machine.do_progress(call.result_handle) is CANCEL_SIGNALED
    ((msg_type, signal),) = frames(machine.take_output())
    assert msg_type == T.SEND_SIGNAL
    assert signal.target_invocation_id == "inv_1bMUJzzAPGdR04YBUnRZRhFhGjkWuj3jVf"
    assert signal.idx == 1 and signal.WhichOneof("result") == "void"


def test_cancellation_during_replay_is_seen_at_the_same_point() -> None:
    machine = vm(start(4), input_cmd(), _sleep(1), g.SIGNAL_CANCEL, sleep_done(1))
    machine.sys_input()
    handle = machine.sys_sleep(1, now_ms=0)
    assert machine.do_progress(handle) is CANCEL_SIGNALED


def test_random_seed_from_start_or_derived_from_the_id() -> None:
    v6 = vm(start(seed=77), input_cmd(), version=6)
    assert v6.sys_input().random_seed == 77
    v5 = vm(start(seed=77), input_cmd(), version=5)
    expected = int.from_bytes(hashlib.sha256(INVOCATION_ID).digest()[:8], "big")
    assert v5.sys_input().random_seed == expected


def test_lazy_state_and_keys() -> None:
    machine = vm(start(key="k"), input_cmd())
    machine.sys_input()
    value = machine.sys_get_state("count")
    keys = machine.sys_get_state_keys()
    out = frames(machine.take_output())
    assert [t for t, _ in out] == [T.GET_LAZY_STATE, T.GET_LAZY_STATE_KEYS]
    assert (out[0][1].result_completion_id, out[1][1].result_completion_id) == (1, 2)
    machine.notify_input(notification(T.GET_LAZY_STATE_COMPLETION, completion_id=1, void=True))
    machine.notify_input(notification(T.GET_LAZY_STATE_KEYS_COMPLETION, completion_id=2, state_keys=[b"b", b"a"]))
    assert machine.do_progress(AllCompleted([value, keys])) is ANY_COMPLETED
    assert machine.take_notification(value) is None
    assert machine.take_notification(keys) == ["b", "a"]
    machine.sys_clear_all_state()  # from now on the (empty) map is complete
    assert machine.take_notification(machine.sys_get_state("count")) is None


def test_protocol_violations_close_the_vm() -> None:
    machine = vm(start(0), input_cmd())
    assert machine.is_closed() and not machine.is_ready_to_execute()
    assert frames(machine.take_output())[0][1].code == 571
    with pytest.raises(VMFailure):
        machine.sys_input()
    early = vm(start(2), input_cmd(), closed=True)  # the body ended before the whole journal
    assert early.is_closed()
