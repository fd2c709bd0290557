"""The commands the partition state machine applies: its only inputs (their log encoding: partition/command_log)."""

from __future__ import annotations

from typing import Literal

import msgspec

from restate.ids import InvocationId
from restate.wire import (
    Failure,
    IngestRecord,
    IngressSink,
    InvocationRequest,
    ManageInvocation,
    OutboxMessage,
    OutputRequest,
    ReplaceObjectState,
    ResolveAwakeable,
)


class InvokeCmd(msgspec.Struct, frozen=True):
    """A request to create or attach to an invocation (from ingress or another partition)."""

    request: InvocationRequest
    sink: IngressSink | None = None
    send: bool = False


class IngestCmd(msgspec.Struct, frozen=True):
    """Kafka records from one producer (a subscription's topic partition), answered to `node` once applied."""

    node: str
    request_id: int
    producer: str
    records: list[IngestRecord]


class OutboxCmd(msgspec.Struct, frozen=True):
    """An envelope from partition `source`; applied once thanks to (source, seq) dedup."""

    source: int
    seq: int
    message: OutboxMessage


ClientRequest = OutputRequest | ResolveAwakeable | ManageInvocation | ReplaceObjectState


class RequestCmd(msgspec.Struct, frozen=True):
    """A request from ingress or admin about existing invocations or object state; always answered."""

    node: str
    message: ClientRequest


class OutboxAckCmd(msgspec.Struct, frozen=True):
    destination: int
    seq: int


class TimerFiredCmd(msgspec.Struct, frozen=True):
    wake_up_ms: int
    invocation_id: bytes
    completion_id: int  # 0 = start a scheduled invocation


class SdkMessageCmd(msgspec.Struct, frozen=True):
    """A command or ProposeRunCompletion the deployment sent during an attempt."""

    invocation_id: bytes
    attempt: int
    msg_type: int
    flags: int
    payload: bytes


class SuspendedCmd(msgspec.Struct, frozen=True):
    invocation_id: bytes
    attempt: int
    awaiting: bytes  # serialized protocol Future (V5/V6 lists become FIRST_COMPLETED)


class EndCmd(msgspec.Struct, frozen=True):
    invocation_id: bytes
    attempt: int


class AttemptFailedCmd(msgspec.Struct, frozen=True):
    """An attempt failed; the invoker proposes when to retry (None = retries exhausted)."""

    invocation_id: bytes
    attempt: int
    failure: Failure
    retry_in_ms: int | None
    give_up: Literal["pause", "kill"] | None = None


Command = (
    InvokeCmd
    | IngestCmd
    | RequestCmd
    | OutboxCmd
    | OutboxAckCmd
    | TimerFiredCmd
    | SdkMessageCmd
    | SuspendedCmd
    | EndCmd
    | AttemptFailedCmd
)


class LogEntry(msgspec.Struct, frozen=True):
    """One batch of commands and every input of their apply that is not in storage, so that applying
    the same entries to the same store gives the same bytes and actions anywhere (command_log encodes it).

    `now_ms` is the clock reading of the whole batch; `schema_version` names the schema it was applied
    with; `partition`/`num_partitions` where it belongs; `protocol_v7` caps new invocations' protocol."""

    partition: int
    num_partitions: int
    now_ms: int
    schema_version: int
    protocol_v7: bool
    commands: list[Command]

    def without(self, position: int) -> LogEntry:
        """The same entry without its command at `position` (one that failed to apply)."""
        return msgspec.structs.replace(self, commands=self.commands[:position] + self.commands[position + 1 :])


def describe_invocation(command: Command) -> str:
    """` (invocation inv_… trace …)` for a log line about a command of an invocation (else empty)."""
    request = getattr(command, "request", None) or getattr(command, "message", None)
    inv = getattr(command, "invocation_id", None) or getattr(request, "invocation_id", None)
    if not isinstance(inv, bytes) or len(inv) != 24:
        return ""
    trace = getattr(request, "trace", None)
    suffix = "" if trace is None else f" trace {trace.trace_id.hex()}"
    return f" (invocation {InvocationId.from_bytes(inv)}{suffix})"
