"""Log entries to bytes and back: the current format writes, every known version reads.

The bytes are a msgpack map (format_v3.Entry; format_v2/v1.Entry before) whose `v` names the format
version; the command and message structs of the state machine are converted to and from the log's own
structs here, field by field, so neither the IPC messages (restate/wire.py) nor the in-memory commands
define the log."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from restate import wire
from restate.partition import commands as cmd
from restate.partition.command_log import format_v1 as v1
from restate.partition.command_log import format_v2 as v2
from restate.partition.command_log import format_v3 as v3

FORMAT_VERSION = v3.VERSION
EntryFormat = v3.Entry  # the struct FORMAT_VERSION writes (its JSON schema is pinned by the fixtures)


class LogFormatError(ValueError):
    """Bytes that are no log entry this release can read (corrupt, or written by a newer format)."""


class _Version(msgspec.Struct):
    """Only the version of an entry (the other fields are skipped): chooses the reader."""

    v: int


_encoder = msgspec.msgpack.Encoder()
_version_decoder = msgspec.msgpack.Decoder(_Version)
_v1_decoder = msgspec.msgpack.Decoder(v1.Entry)
_v2_decoder = msgspec.msgpack.Decoder(v2.Entry)
_v3_decoder = msgspec.msgpack.Decoder(v3.Entry)


def encode_entry(entry: cmd.LogEntry) -> bytes:
    """The entry in the current format (FORMAT_VERSION)."""
    return _encoder.encode(entry_to_v3(entry))


def decode_entry(data: bytes) -> cmd.LogEntry:
    """Reads an entry of any known format version; raises LogFormatError on anything else."""
    try:
        version = _version_decoder.decode(data).v
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise LogFormatError(f"not a log entry: {exc}") from None
    reader = _READERS.get(version)
    if reader is None:
        newest = max(_READERS)
        raise LogFormatError(f"log entry format version {version} is unknown (this release reads 1 to {newest})")
    try:
        return reader(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise LogFormatError(f"malformed log entry (format version {version}): {exc}") from None


def _read_v1(data: bytes) -> cmd.LogEntry:
    return entry_from_v1(_v1_decoder.decode(data))  # requests without a trace context: not traced


def _read_v2(data: bytes) -> cmd.LogEntry:
    return entry_from_v2(_v2_decoder.decode(data))


# Every version this release reads. A new version adds its reader; an old one converts what it read
# into today's LogEntry (filling what it lacked), see docs/log-format.md.
def _read_v3(data: bytes) -> cmd.LogEntry:
    return entry_from_v3(_v3_decoder.decode(data))


_READERS: dict[int, Callable[[bytes], cmd.LogEntry]] = {1: _read_v1, 2: _read_v2, 3: _read_v3}


# --- version 3: version 2 and the ingest command (its other structs are version 2's)


def entry_to_v3(entry: cmd.LogEntry) -> v3.Entry:
    return v3.Entry(
        v=v3.VERSION,
        partition=entry.partition,
        num_partitions=entry.num_partitions,
        now_ms=entry.now_ms,
        schema_version=entry.schema_version,
        protocol_v7=entry.protocol_v7,
        commands=[_command_to_v3(c) for c in entry.commands],
    )


def _command_to_v3(c: cmd.Command) -> v3.Command:
    if isinstance(c, cmd.IngestCmd):
        records = [v3.IngestRecord(r.offset, _request_to_v2(r.request)) for r in c.records]
        return v3.Ingest(c.node, c.request_id, c.producer, records)
    return _command_to_v2(c)


def entry_from_v3(e: v3.Entry) -> cmd.LogEntry:
    commands = [_command_from_v3(c) for c in e.commands]
    return cmd.LogEntry(e.partition, e.num_partitions, e.now_ms, e.schema_version, e.protocol_v7, commands)


def _command_from_v3(c: v3.Command) -> cmd.Command:
    if isinstance(c, v3.Ingest):
        records = [wire.IngestRecord(r.offset, _request_from_v2(r.request)) for r in c.records]
        return cmd.IngestCmd(c.node, c.request_id, c.producer, records)
    return _command_from_v2(c)


# --- version 2: version 1 + the requests' trace context


def entry_to_v2(entry: cmd.LogEntry) -> v2.Entry:
    return v2.Entry(
        v=v2.VERSION,
        partition=entry.partition,
        num_partitions=entry.num_partitions,
        now_ms=entry.now_ms,
        schema_version=entry.schema_version,
        protocol_v7=entry.protocol_v7,
        commands=[_command_to_v2(c) for c in entry.commands],
    )


def _command_to_v2(c: cmd.Command) -> v2.Command:
    if isinstance(c, cmd.InvokeCmd):
        sink = None if c.sink is None else _sink_to_v1(c.sink)
        return v2.Invoke(_request_to_v2(c.request), sink, c.send)
    if isinstance(c, cmd.OutboxCmd):
        m = c.message
        if isinstance(m, wire.InvocationRequest):
            return v2.Outbox(c.source, c.seq, _request_to_v2(m))
        other = _outbox_to_v1(m)
        assert not isinstance(other, v1.InvocationRequest)
        return v2.Outbox(c.source, c.seq, other)
    converted = _command_to_v1(c)  # the commands version 2 did not change
    assert not isinstance(converted, v1.Invoke | v1.Outbox)
    return converted


def _request_to_v2(r: wire.InvocationRequest) -> v2.InvocationRequest:
    caller = None if r.caller is None else _caller_to_v1(r.caller)
    t = r.trace
    trace = None if t is None else v2.TraceContext(t.trace_id, t.parent_span_id, t.trace_state, t.link_trace_id,
                                                    t.link_span_id)  # fmt: skip
    return v2.InvocationRequest(
        r.invocation_id, _target_to_v1(r.target), r.input, r.headers, r.idempotency_key, r.execute_at_ms, caller,
        r.caller_id, trace,
    )  # fmt: skip


def entry_from_v2(e: v2.Entry) -> cmd.LogEntry:
    commands = [_command_from_v2(c) for c in e.commands]
    return cmd.LogEntry(e.partition, e.num_partitions, e.now_ms, e.schema_version, e.protocol_v7, commands)


def _command_from_v2(c: v2.Command) -> cmd.Command:
    if isinstance(c, v2.Invoke):
        sink = None if c.sink is None else wire.IngressSink(c.sink.node, c.sink.request_id)
        return cmd.InvokeCmd(_request_from_v2(c.request), sink, c.send)
    if isinstance(c, v2.Outbox):
        message = _request_from_v2(c.message) if isinstance(c.message, v2.InvocationRequest) else c.message
        return cmd.OutboxCmd(c.source, c.seq, _outbox_from_v1(message))
    return _command_from_v1(c)


def _request_from_v2(r: v2.InvocationRequest) -> wire.InvocationRequest:
    t = r.trace
    trace = None if t is None else wire.TraceContext(t.trace_id, t.parent_span_id, t.trace_state, t.link_trace_id,
                                                      t.link_span_id)  # fmt: skip
    return msgspec.structs.replace(_request_from_v1(r), trace=trace)  # type: ignore[arg-type]


# --- version 1: in-memory -> log


def entry_to_v1(entry: cmd.LogEntry) -> v1.Entry:
    return v1.Entry(
        v=v1.VERSION,
        partition=entry.partition,
        num_partitions=entry.num_partitions,
        now_ms=entry.now_ms,
        schema_version=entry.schema_version,
        protocol_v7=entry.protocol_v7,
        commands=[_command_to_v1(c) for c in entry.commands],
    )


def _command_to_v1(c: cmd.Command) -> v1.Command:
    match c:
        case cmd.SdkMessageCmd():
            return v1.SdkMessage(c.invocation_id, c.attempt, c.msg_type, c.flags, c.payload)
        case cmd.InvokeCmd():
            sink = None if c.sink is None else _sink_to_v1(c.sink)
            return v1.Invoke(_request_to_v1(c.request), sink, c.send)
        case cmd.OutboxCmd():
            return v1.Outbox(c.source, c.seq, _outbox_to_v1(c.message))
        case cmd.OutboxAckCmd():
            return v1.OutboxAck(c.destination, c.seq)
        case cmd.EndCmd():
            return v1.End(c.invocation_id, c.attempt)
        case cmd.SuspendedCmd():
            return v1.Suspended(c.invocation_id, c.attempt, c.awaiting)
        case cmd.TimerFiredCmd():
            return v1.TimerFired(c.wake_up_ms, c.invocation_id, c.completion_id)
        case cmd.AttemptFailedCmd():
            failure = _failure_to_v1(c.failure)
            return v1.AttemptFailed(c.invocation_id, c.attempt, failure, c.retry_in_ms, c.give_up)
        case cmd.RequestCmd():
            return v1.RequestFrom(c.node, _client_request_to_v1(c.message))
    raise TypeError(f"not a command: {type(c).__name__}")


def _target_to_v1(t: wire.Target) -> v1.Target:
    return v1.Target(t.service, t.handler, t.key, t.service_ty, t.exclusive)


def _failure_to_v1(f: wire.Failure) -> v1.Failure:
    return v1.Failure(f.code, f.message, f.metadata, f.stacktrace)


def _outcome_to_v1(o: wire.Outcome) -> v1.Outcome:
    return v1.Outcome(o.value, None if o.failure is None else _failure_to_v1(o.failure))


def _sink_to_v1(s: wire.IngressSink) -> v1.IngressSink:
    return v1.IngressSink(s.node, s.request_id)


def _caller_to_v1(c: wire.CallerSink) -> v1.CallerSink:
    return v1.CallerSink(c.invocation_id, c.completion_id, c.kind)


def _request_to_v1(r: wire.InvocationRequest) -> v1.InvocationRequest:
    caller = None if r.caller is None else _caller_to_v1(r.caller)
    return v1.InvocationRequest(
        r.invocation_id,
        _target_to_v1(r.target),
        r.input,
        r.headers,
        r.idempotency_key,
        r.execute_at_ms,
        caller,
        r.caller_id,
    )


def _outbox_to_v1(m: wire.OutboxMessage) -> v1.OutboxMessage:
    match m:
        case wire.InvocationRequest():
            return _request_to_v1(m)
        case wire.InvocationResponse():
            return v1.InvocationResponse(_caller_to_v1(m.caller), _outcome_to_v1(m.outcome))
        case wire.Signal():
            outcome = None if m.outcome is None else _outcome_to_v1(m.outcome)
            return v1.Signal(m.invocation_id, m.idx, m.name, outcome)
        case wire.AttachOutput():
            return v1.AttachOutput(m.invocation_id, _caller_to_v1(m.caller))
    raise TypeError(f"not an outbox message: {type(m).__name__}")


def _client_request_to_v1(m: cmd.ClientRequest) -> v1.Request:
    match m:
        case wire.OutputRequest():
            return v1.OutputRequest(m.request_id, m.invocation_id, m.wait)
        case wire.ResolveAwakeable():
            return v1.ResolveAwakeable(m.request_id, m.invocation_id, m.signal_idx, _outcome_to_v1(m.outcome))
        case wire.ManageInvocation():
            return v1.ManageInvocation(m.request_id, m.invocation_id, m.op)
        case wire.ReplaceObjectState():
            return v1.ReplaceObjectState(m.request_id, m.service, m.key, m.new_state, m.version)
    raise TypeError(f"not a request: {type(m).__name__}")


# --- version 1: log -> in-memory


def entry_from_v1(e: v1.Entry) -> cmd.LogEntry:
    commands = [_command_from_v1(c) for c in e.commands]
    return cmd.LogEntry(e.partition, e.num_partitions, e.now_ms, e.schema_version, e.protocol_v7, commands)


def _command_from_v1(c: v1.Command) -> cmd.Command:
    match c:
        case v1.SdkMessage():
            return cmd.SdkMessageCmd(c.invocation_id, c.attempt, c.msg_type, c.flags, c.payload)
        case v1.Invoke():
            sink = None if c.sink is None else wire.IngressSink(c.sink.node, c.sink.request_id)
            return cmd.InvokeCmd(_request_from_v1(c.request), sink, c.send)
        case v1.Outbox():
            return cmd.OutboxCmd(c.source, c.seq, _outbox_from_v1(c.message))
        case v1.OutboxAck():
            return cmd.OutboxAckCmd(c.destination, c.seq)
        case v1.End():
            return cmd.EndCmd(c.invocation_id, c.attempt)
        case v1.Suspended():
            return cmd.SuspendedCmd(c.invocation_id, c.attempt, c.awaiting)
        case v1.TimerFired():
            return cmd.TimerFiredCmd(c.wake_up_ms, c.invocation_id, c.completion_id)
        case v1.AttemptFailed():
            failure = _failure_from_v1(c.failure)
            return cmd.AttemptFailedCmd(c.invocation_id, c.attempt, failure, c.retry_in_ms, c.give_up)
        case v1.RequestFrom():
            return cmd.RequestCmd(c.node, _client_request_from_v1(c.message))
    raise TypeError(f"not a v1 command: {type(c).__name__}")


def _failure_from_v1(f: v1.Failure) -> wire.Failure:
    return wire.Failure(f.code, f.message, f.metadata, f.stacktrace)


def _outcome_from_v1(o: v1.Outcome) -> wire.Outcome:
    return wire.Outcome(o.value, None if o.failure is None else _failure_from_v1(o.failure))


def _caller_from_v1(c: v1.CallerSink) -> wire.CallerSink:
    return wire.CallerSink(c.invocation_id, c.completion_id, c.kind)


def _request_from_v1(r: v1.InvocationRequest) -> wire.InvocationRequest:
    t = r.target
    return wire.InvocationRequest(
        r.invocation_id,
        wire.Target(t.service, t.handler, t.key, t.service_ty, t.exclusive),
        r.input,
        r.headers,
        r.idempotency_key,
        r.execute_at_ms,
        None if r.caller is None else _caller_from_v1(r.caller),
        r.caller_id,
    )


def _outbox_from_v1(m: v1.OutboxMessage | wire.InvocationRequest) -> wire.OutboxMessage:
    match m:
        case wire.InvocationRequest():  # already converted (version 2)
            return m
        case v1.InvocationRequest():
            return _request_from_v1(m)
        case v1.InvocationResponse():
            return wire.InvocationResponse(_caller_from_v1(m.caller), _outcome_from_v1(m.outcome))
        case v1.Signal():
            outcome = None if m.outcome is None else _outcome_from_v1(m.outcome)
            return wire.Signal(m.invocation_id, m.idx, m.name, outcome)
        case v1.AttachOutput():
            return wire.AttachOutput(m.invocation_id, _caller_from_v1(m.caller))
    raise TypeError(f"not a v1 outbox message: {type(m).__name__}")


def _client_request_from_v1(m: v1.Request) -> cmd.ClientRequest:
    match m:
        case v1.OutputRequest():
            return wire.OutputRequest(m.request_id, m.invocation_id, m.wait)
        case v1.ResolveAwakeable():
            return wire.ResolveAwakeable(m.request_id, m.invocation_id, m.signal_idx, _outcome_from_v1(m.outcome))
        case v1.ManageInvocation():
            return wire.ManageInvocation(m.request_id, m.invocation_id, m.op)
        case v1.ReplaceObjectState():
            return wire.ReplaceObjectState(m.request_id, m.service, m.key, m.new_state, m.version)
    raise TypeError(f"not a v1 request: {type(m).__name__}")
