"""Between the IPC values commands and actions carry (restate.wire) and the stored records the state
machine keeps (restate.storage.records): field by field, so that neither defines the other's format."""

from __future__ import annotations

from restate import wire
from restate.storage import records as r

# --- into records


def target(t: wire.Target) -> r.InvocationTarget:
    return r.InvocationTarget(
        service=t.service, handler=t.handler, key=t.key, service_ty=t.service_ty, exclusive=t.exclusive
    )


def failure(f: wire.Failure) -> r.FailureRecord:
    return r.FailureRecord(code=f.code, message=f.message, metadata=list(f.metadata), stacktrace=f.stacktrace)


def outcome(o: wire.Outcome) -> r.OutcomeRecord:
    return r.OutcomeRecord(value=o.value, failure=None if o.failure is None else failure(o.failure))


def ingress_waiter(s: wire.IngressSink) -> r.IngressWaiter:
    return r.IngressWaiter(node=s.node, request_id=s.request_id)


def caller_waiter(c: wire.CallerSink) -> r.CallerWaiter:
    return r.CallerWaiter(invocation_id=c.invocation_id, completion_id=c.completion_id, kind=c.kind)


def trace(t: wire.TraceContext | None) -> r.TraceRecord | None:
    if t is None:
        return None
    return r.TraceRecord(
        trace_id=t.trace_id, parent_span_id=t.parent_span_id, trace_state=t.trace_state,
        link_trace_id=t.link_trace_id, link_span_id=t.link_span_id,
    )  # fmt: skip


def outbox_item(message: wire.OutboxMessage) -> r.OutboxItem:
    match message:
        case wire.InvocationRequest():
            return r.OutboxInvocation(
                invocation_id=message.invocation_id,
                target=target(message.target),
                input=message.input,
                headers=list(message.headers),
                idempotency_key=message.idempotency_key,
                execute_at_ms=message.execute_at_ms,
                caller=None if message.caller is None else caller_waiter(message.caller),
                caller_id=message.caller_id,
                trace=trace(message.trace),
            )
        case wire.InvocationResponse():
            return r.OutboxResponse(caller=caller_waiter(message.caller), outcome=outcome(message.outcome))
        case wire.Signal():
            stored = None if message.outcome is None else outcome(message.outcome)
            return r.OutboxSignal(
                invocation_id=message.invocation_id, idx=message.idx, name=message.name, outcome=stored
            )
        case wire.AttachOutput():
            return r.OutboxAttach(invocation_id=message.invocation_id, caller=caller_waiter(message.caller))


# --- out of records


def wire_target(t: r.InvocationTarget) -> wire.Target:
    return wire.Target(t.service, t.handler, t.key, t.service_ty, t.exclusive)


def wire_failure(f: r.FailureRecord) -> wire.Failure:
    return wire.Failure(f.code, f.message, list(f.metadata), f.stacktrace)


def wire_outcome(o: r.OutcomeRecord) -> wire.Outcome:
    return wire.Outcome(o.value, None if o.failure is None else wire_failure(o.failure))


def wire_ingress(s: r.IngressWaiter) -> wire.IngressSink:
    return wire.IngressSink(s.node, s.request_id)


def wire_caller(c: r.CallerWaiter) -> wire.CallerSink:
    return wire.CallerSink(c.invocation_id, c.completion_id, c.kind)


def wire_trace(t: r.TraceRecord | None) -> wire.TraceContext | None:
    if t is None:
        return None
    return wire.TraceContext(t.trace_id, t.parent_span_id, t.trace_state, t.link_trace_id, t.link_span_id)


def wire_outbox(item: r.OutboxItem) -> wire.OutboxMessage:
    match item:
        case r.OutboxInvocation():
            return wire.InvocationRequest(
                invocation_id=item.invocation_id,
                target=wire_target(item.target),
                input=item.input,
                headers=list(item.headers),
                idempotency_key=item.idempotency_key,
                execute_at_ms=item.execute_at_ms,
                caller=None if item.caller is None else wire_caller(item.caller),
                caller_id=item.caller_id,
                trace=wire_trace(item.trace),
            )
        case r.OutboxResponse():
            return wire.InvocationResponse(wire_caller(item.caller), wire_outcome(item.outcome))
        case r.OutboxSignal():
            stored = None if item.outcome is None else wire_outcome(item.outcome)
            return wire.Signal(item.invocation_id, item.idx, item.name, stored)
        case r.OutboxAttach():
            return wire.AttachOutput(item.invocation_id, wire_caller(item.caller))
