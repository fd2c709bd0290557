"""The VM's eager state: state_keys after clear lists the cleared key, as the official SDKs' shared core does."""

from __future__ import annotations

from tests.unit.sdk.vmkit import T, frames, input_cmd, start, vm


def _eager_keys_after(clear: str) -> tuple[list[str], list[str]]:
    """With a complete eager map {a, b}: clear `clear`, list the keys; (the answer, the journaled keys)."""
    machine = vm(start(key="k", state={"a": b"1", "b": b"2"}, partial=False), input_cmd())
    machine.sys_input()
    machine.sys_clear_state(clear)
    handle = machine.sys_get_state_keys()
    out = frames(machine.take_output())
    assert [t for t, _ in out] == [T.CLEAR_STATE, T.GET_EAGER_STATE_KEYS]
    journaled = [k.decode() for k in out[1][1].value.keys]
    return machine.take_notification(handle), journaled


def test_a_cleared_key_is_still_listed_and_journaled() -> None:
    assert _eager_keys_after("b") == (["a", "b"], ["a", "b"])


def test_a_key_cleared_without_ever_being_set_is_listed_too() -> None:
    assert _eager_keys_after("z") == (["a", "b", "z"], ["a", "b", "z"])


def test_a_cleared_key_reads_as_absent() -> None:
    machine = vm(start(key="k", state={"b": b"2"}, partial=False), input_cmd())
    machine.sys_input()
    machine.sys_clear_state("b")
    assert machine.take_notification(machine.sys_get_state("b")) is None


def test_clear_all_forgets_the_cleared_keys() -> None:
    machine = vm(start(key="k", state={"a": b"1"}, partial=False), input_cmd())
    machine.sys_input()
    machine.sys_clear_state("a")
    machine.sys_clear_all_state()
    assert machine.take_notification(machine.sys_get_state_keys()) == []
