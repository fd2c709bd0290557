"""The VM byte-in/byte-out against the golden frames of docs/reference/captures.md (official SDK 1.3.0 output)."""

from __future__ import annotations

from restate.protocol import content_type, pb
from restate.sdk.vm import VM
from restate.sdk.vm_types import (
    ANY_COMPLETED,
    CANCEL_SIGNALED,
    SUSPENDED,
    WAIT_EXTERNAL,
    ExecuteRun,
    Failure,
    RunRetryConfig,
)
from tests.unit.protocol import golden as g
from tests.unit.sdk.vmkit import T, cmd, frames, input_cmd, start, types, vm


def test_greet_v6() -> None:
    machine = VM(content_type(6))
    assert machine.response_head() == (200, [("content-type", "application/vnd.restate.invocation.v6")])
    machine.notify_input(g.START_GREET + input_cmd(b'"Alice"', {"x-restate-ingress-path": "/Greeter/greet"}))
    assert machine.is_ready_to_execute()
    inv = machine.sys_input()
    assert inv.invocation_id == "inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu"
    assert inv.random_seed == 15278614216999915429
    assert inv.input_buffer == b'"Alice"'
    assert inv.headers == [("x-restate-ingress-path", "/Greeter/greet")]
    machine.sys_write_output_success(b'"Hello Alice!"')
    machine.sys_end()
    assert machine.take_output() == g.OUTPUT_HELLO + g.END
    assert machine.is_closed()


def test_input_fed_byte_by_byte() -> None:
    machine = VM(content_type(6))
    for byte in g.START_GREET + input_cmd():
        assert not machine.is_ready_to_execute()
        machine.notify_input(bytes([byte]))
    assert machine.is_ready_to_execute()
    assert machine.sys_input().invocation_id == "inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu"


def test_sleep_completed_on_the_open_stream() -> None:
    machine = vm(start(), input_cmd(b"1500"))
    machine.sys_input()
    handle = machine.sys_sleep(1500, now_ms=1795273610984 - 1500)
    assert machine.do_progress(handle) is WAIT_EXTERNAL
    assert machine.take_output() == g.SLEEP_2
    machine.notify_input(g.SLEEP_COMPLETION)
    assert machine.do_progress(handle) is ANY_COMPLETED
    assert machine.take_notification(handle) is None


def test_suspension_v6_flat_lists() -> None:
    machine = vm(start(), input_cmd(b"5000"), version=6, closed=True)
    machine.sys_input()
    handle = machine.sys_sleep(5000, now_ms=0)
    assert machine.do_progress(handle) is SUSPENDED
    assert machine.take_output().endswith(g.SUSPENSION_V6)
    assert machine.is_closed()


def test_suspension_v7_future_tree() -> None:
    machine = vm(start(), input_cmd(b"5000"), version=7, closed=True)
    machine.sys_input()
    handle = machine.sys_sleep(5000, now_ms=0)
    assert machine.do_progress(handle) is SUSPENDED
    assert machine.take_output().endswith(g.SUSPENSION_V7)


def test_run_v6_proposal_answered_by_the_notification() -> None:
    machine = vm(start(), input_cmd(b"21"))
    machine.sys_input()
    run = machine.sys_run("double")
    assert not run.replayed
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    assert machine.do_progress(run.handle) is WAIT_EXTERNAL  # executing
    machine.propose_run_completion_success(run.handle, b"42")
    assert machine.do_progress(run.handle) is WAIT_EXTERNAL  # proposed, not stored yet
    assert machine.take_output() == g.RUN + g.PROPOSE_RUN_V6
    machine.notify_input(g.RUN_COMPLETION)
    assert machine.do_progress(run.handle) is ANY_COMPLETED
    assert machine.take_notification(run.handle) == b"42"


def test_run_v7_requested_ack() -> None:
    machine = vm(start(), input_cmd(b"21"), version=7)
    machine.sys_input()
    run = machine.sys_run("double")
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    machine.propose_run_completion_success(run.handle, b"42")
    assert machine.take_output() == g.RUN + g.PROPOSE_RUN_ACKED
    assert machine.do_progress(run.handle) is WAIT_EXTERNAL
    machine.notify_input(g.PROPOSE_RUN_ACK)
    assert machine.do_progress(run.handle) is ANY_COMPLETED
    assert machine.take_notification(run.handle) == b"42"


def test_run_in_request_response_mode_proposes_then_suspends() -> None:
    machine = vm(start(), input_cmd(b"5"), closed=True)
    machine.sys_input()
    run = machine.sys_run("double")
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    assert machine.do_progress(run.handle) is WAIT_EXTERNAL  # never suspend while a run executes
    machine.propose_run_completion_success(run.handle, b"10")
    assert machine.do_progress(run.handle) is SUSPENDED
    assert types(machine.take_output()) == [T.RUN, T.PROPOSE_RUN_COMPLETION, T.SUSPENSION]


def test_call_and_one_way_call() -> None:
    machine = vm(start(), input_cmd(b'"Bob"'))
    machine.sys_input()
    call = machine.sys_call("Greeter", "greet", b'"Bob"')
    assert machine.do_progress(call.result_handle) is WAIT_EXTERNAL
    assert machine.take_output() == g.CALL
    machine.notify_input(g.CALL_INVOCATION_ID + g.CALL_COMPLETION)
    assert machine.do_progress(call.result_handle) is ANY_COMPLETED
    assert machine.take_notification(call.result_handle) == b'"Hello Bob!"'
    assert machine.take_notification(call.invocation_id_handle) == "inv_1bMUJzzAPGdR04YBUnRZRhFhGjkWuj3jVf"
    machine.sys_send("Greeter", "greet", b'"bg"')
    assert machine.take_output() == g.ONE_WAY_CALL


def test_eager_state() -> None:
    machine = vm(g.START_COUNTER, input_cmd(b"7"))
    inv = machine.sys_input()
    assert inv.key == "k1"
    handle = machine.sys_get_state("count")
    assert machine.is_completed(handle)
    assert machine.take_notification(handle) == b"5"
    machine.sys_set_state("count", b"12")
    assert machine.take_output() == g.GET_EAGER_STATE + g.SET_STATE
    # a complete map answers absent keys locally too
    missing = machine.sys_get_state("nope")
    assert machine.take_notification(missing) is None
    assert types(machine.take_output()) == [T.GET_EAGER_STATE]


def test_awakeable_id_and_resolution() -> None:
    machine = vm(start(), input_cmd(b'"x"'))
    machine.sys_input()
    awakeable_id, handle = machine.sys_awakeable()
    assert awakeable_id == "sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ"
    assert machine.take_output() == b""  # creating an awakeable writes nothing
    machine.notify_input(g.SIGNAL_AWAKEABLE)
    assert machine.do_progress(handle) is ANY_COMPLETED
    assert machine.take_notification(handle) == b'"resolved!"'


def test_complete_awakeable_command() -> None:
    machine = vm(start(), g.INPUT_AWAKEABLE)
    machine.sys_input()
    machine.sys_complete_awakeable("sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ", b'"resolved!"')
    machine.sys_write_output_success(b"")
    assert machine.take_output() == g.COMPLETE_AWAKEABLE + g.OUTPUT_EMPTY


def test_cancellation_ends_with_409_cancelled() -> None:
    machine = vm(start(), input_cmd(b'"x"'))
    machine.sys_input()
    handle = machine.sys_sleep(60_000, now_ms=0)
    assert machine.do_progress(handle) is WAIT_EXTERNAL
    machine.take_output()
    machine.notify_input(g.SIGNAL_CANCEL)
    assert machine.do_progress(handle) is CANCEL_SIGNALED
    assert machine.do_progress(handle) is WAIT_EXTERNAL  # the signal fires once
    machine.sys_write_output_failure(Failure(409, "cancelled"))
    machine.sys_end()
    assert machine.take_output() == g.OUTPUT_CANCELLED + g.END


def test_run_retry_first_attempt_fails_with_a_retry_delay() -> None:
    machine = vm(start(), input_cmd(b"1"))
    machine.sys_input()
    run = machine.sys_run("boom")
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    failure = Failure(500, "ValueError('run boom')", "Traceback ...")
    machine.propose_run_completion_transient(run.handle, failure, 2, RunRetryConfig(max_attempts=2))
    out = frames(machine.take_output())
    assert [t for t, _ in out] == [T.RUN, T.ERROR]
    error = out[1][1]
    assert (error.code, error.message, error.stacktrace) == (500, "ValueError('run boom')", "Traceback ...")
    assert (error.related_command_index, error.related_command_type, error.related_command_name) == (1, 0x0411, "boom")
    assert error.next_retry_delay == 100
    assert machine.is_closed()


def test_run_retry_exhausted_proposes_the_failure() -> None:
    run_cmd = cmd(pb.RunCommandMessage(result_completion_id=1, name="boom"))
    machine = vm(g.START_RETRY, input_cmd(b"1"), run_cmd)  # known_entries=2, retry_count=1
    machine.sys_input()
    run = machine.sys_run("boom")
    assert not run.replayed  # the command is journaled, its result is not: execute again
    assert machine.do_progress(run.handle) == ExecuteRun(run.handle)
    machine.propose_run_completion_transient(run.handle, Failure(500, "ValueError('run boom')"), 1,
                                             RunRetryConfig(max_attempts=2))  # fmt: skip
    assert machine.take_output() == g.PROPOSE_RUN_FAILURE
    machine.notify_input(g.RUN_COMPLETION_FAILURE)
    assert machine.do_progress(run.handle) is ANY_COMPLETED
    assert machine.take_notification(run.handle) == Failure(500, "ValueError('run boom')")


def test_unsupported_protocol_versions_get_415() -> None:
    assert VM("application/vnd.restate.invocation.v4").response_head()[0] == 415
    assert VM(None).response_head()[0] == 415
    assert VM("application/vnd.restate.invocation.v5").response_head()[0] == 200
    assert VM("application/vnd.restate.invocation.v7").response_head()[0] == 200
