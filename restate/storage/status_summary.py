"""A partial read of a stored InvocationStatus: the fields SQL scans filter and count on, nothing else.

Decoding a whole status (its journal index, waiters, attempts, outcome value) costs more than twice as
much as reading its target, times, state kind and a few ids; a scan of 100,000 invocations for counts or
lists needs only those. The record's bytes are the same (restate.storage.records.InvocationStatus): this
struct reads the same version tag and field tags and skips every other field.
"""

from __future__ import annotations

from typing import Any

import msgspec

from restate.storage import records as r

_VERSION = r.InvocationStatus.__struct_config__.tag
_TAGS = {name: r.STATUS_TAGS[name] for name in (
    "target", "created_at_ms", "modified_at_ms", "state", "deployment_id", "caller_id", "idempotency_key",
)}  # fmt: skip


def _tag(state: type[Any]) -> str:
    tag = state.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


class _Failure(msgspec.Struct, gc=False, frozen=True, rename={"code": "c"}):
    code: int


class _Outcome(msgspec.Struct, gc=False, frozen=True, rename={"failure": "err"}):
    failure: _Failure | None = None  # only whether there is one (and its code)


class Scheduled(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Scheduled), tag_field="s"):
    pass


class Inboxed(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Inboxed), tag_field="s"):
    pass


class Invoked(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Invoked), tag_field="s"):
    pass


class BackingOff(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.BackingOff), tag_field="s"):
    pass


class Suspended(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Suspended), tag_field="s"):
    pass


class Paused(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Paused), tag_field="s"):
    pass


class Completed(msgspec.Struct, gc=False, frozen=True, tag=_tag(r.Completed), tag_field="s", rename={"outcome": "o"}):
    outcome: _Outcome


# The states are frozen (hashable): a scan can count statuses by state without looking into each one.
StateKind = Scheduled | Inboxed | Invoked | BackingOff | Suspended | Paused | Completed

#: The partition's status name (`sys_invocation_status.status`) and the derived one (`sys_invocation.status`).
_NAMES: dict[type, tuple[str, str]] = {
    Scheduled: ("scheduled", "scheduled"),
    Inboxed: ("inboxed", "pending"),
    Invoked: ("invoked", "running"),
    BackingOff: ("invoked", "backing-off"),
    Suspended: ("suspended", "suspended"),
    Paused: ("paused", "paused"),
    Completed: ("completed", "completed"),
}


class StatusSummary(msgspec.Struct, gc=False, tag=_VERSION, tag_field="v", kw_only=True, rename=_TAGS):
    target: r.InvocationTarget
    created_at_ms: int
    modified_at_ms: int
    state: StateKind
    deployment_id: str | None = None
    caller_id: bytes | None = None
    idempotency_key: str | None = None

    @property
    def status(self) -> str:
        return status_of(self.state)

    @property
    def derived_status(self) -> str:
        return derived_status_of(self.state)

    @property
    def completion_result(self) -> str | None:
        return completion_result_of(self.state)


def status_of(state: StateKind) -> str:
    """The partition's name of a state (`sys_invocation_status.status`)."""
    return _NAMES[type(state)][0]


def derived_status_of(state: StateKind) -> str:
    """`sys_invocation.status` of a state."""
    return _NAMES[type(state)][1]


def completion_result_of(state: StateKind) -> str | None:
    if not isinstance(state, Completed):
        return None
    return "failure" if state.outcome.failure is not None else "success"


decode = msgspec.msgpack.Decoder(StatusSummary).decode
