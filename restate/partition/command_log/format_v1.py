"""Version 1 of the log entry format: msgpack maps keyed by field name, one struct per value kind.

Frozen once released: a change here changes bytes other nodes and older data already hold. To change
the format, copy this module to format_v2.py, change that one and follow docs/log-format.md. These
structs mirror the commands (restate/partition/commands.py) and the IPC messages they carry, but never
import them: a change to an IPC message cannot change the log."""

from __future__ import annotations

from typing import Literal

import msgspec

VERSION = 1


# Subclasses repeat frozen=True only for mypy (msgspec inherits it).
class _Value(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Every log struct: encoded as a map; bytes written by a later format are refused, not half-read."""


# --- values carried by commands


class Target(_Value, frozen=True):
    service: str
    handler: str
    key: str | None = None
    service_ty: Literal["service", "virtual_object", "workflow"] = "service"
    exclusive: bool = False


class Failure(_Value, frozen=True):
    code: int
    message: str
    metadata: list[tuple[str, str]] = []
    stacktrace: str | None = None


class Outcome(_Value, frozen=True):
    value: bytes | None = None
    failure: Failure | None = None


class IngressSink(_Value, frozen=True):
    node: str
    request_id: int


class CallerSink(_Value, frozen=True):
    invocation_id: bytes
    completion_id: int
    kind: int


class InvocationRequest(_Value, frozen=True, tag="invocation_request", tag_field="type"):
    invocation_id: bytes
    target: Target
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: CallerSink | None = None
    caller_id: bytes | None = None


class InvocationResponse(_Value, frozen=True, tag="invocation_response", tag_field="type"):
    caller: CallerSink
    outcome: Outcome


class Signal(_Value, frozen=True, tag="signal", tag_field="type"):
    invocation_id: bytes
    idx: int | None = None
    name: str | None = None
    outcome: Outcome | None = None


class AttachOutput(_Value, frozen=True, tag="attach_output", tag_field="type"):
    invocation_id: bytes
    caller: CallerSink


OutboxMessage = InvocationRequest | InvocationResponse | Signal | AttachOutput


class OutputRequest(_Value, frozen=True, tag="output", tag_field="type"):
    request_id: int
    invocation_id: bytes
    wait: bool


class ResolveAwakeable(_Value, frozen=True, tag="resolve_awakeable", tag_field="type"):
    request_id: int
    invocation_id: bytes
    signal_idx: int
    outcome: Outcome


class ManageInvocation(_Value, frozen=True, tag="manage", tag_field="type"):
    request_id: int
    invocation_id: bytes
    op: Literal["cancel", "kill", "pause", "resume", "purge", "purge_journal"]


class ReplaceObjectState(_Value, frozen=True, tag="replace_state", tag_field="type"):
    request_id: int
    service: str
    key: str
    new_state: list[tuple[bytes, bytes]]
    version: str | None = None


Request = OutputRequest | ResolveAwakeable | ManageInvocation | ReplaceObjectState


# --- commands


class Invoke(_Value, frozen=True, tag="invoke", tag_field="type"):
    request: InvocationRequest
    sink: IngressSink | None = None
    send: bool = False


class Outbox(_Value, frozen=True, tag="outbox", tag_field="type"):
    source: int
    seq: int
    message: OutboxMessage


class RequestFrom(_Value, frozen=True, tag="request", tag_field="type"):
    node: str
    message: Request


class OutboxAck(_Value, frozen=True, tag="outbox_ack", tag_field="type"):
    destination: int
    seq: int


class TimerFired(_Value, frozen=True, tag="timer_fired", tag_field="type"):
    wake_up_ms: int
    invocation_id: bytes
    completion_id: int


class SdkMessage(_Value, frozen=True, tag="sdk_message", tag_field="type"):
    invocation_id: bytes
    attempt: int
    msg_type: int
    flags: int
    payload: bytes


class Suspended(_Value, frozen=True, tag="suspended", tag_field="type"):
    invocation_id: bytes
    attempt: int
    awaiting: bytes


class End(_Value, frozen=True, tag="end", tag_field="type"):
    invocation_id: bytes
    attempt: int


class AttemptFailed(_Value, frozen=True, tag="attempt_failed", tag_field="type"):
    invocation_id: bytes
    attempt: int
    failure: Failure
    retry_in_ms: int | None
    give_up: Literal["pause", "kill"] | None = None


Command = Invoke | Outbox | RequestFrom | OutboxAck | TimerFired | SdkMessage | Suspended | End | AttemptFailed


class Entry(_Value, frozen=True):
    """A log entry: `v` is the format version (always written, read first)."""

    v: int
    partition: int
    num_partitions: int
    now_ms: int
    schema_version: int
    protocol_v7: bool
    commands: list[Command]
