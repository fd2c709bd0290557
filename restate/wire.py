"""Every message that crosses a process boundary over ZeroMQ, as msgspec tagged unions (msgpack)."""

from __future__ import annotations

from typing import Literal

import msgspec

from restate.schema import Schema

ServiceTy = Literal["service", "virtual_object", "workflow"]


class Target(msgspec.Struct, frozen=True, array_like=True):
    """The handler an invocation runs; `key` is set for objects and workflows."""

    service: str
    handler: str
    key: str | None = None
    service_ty: ServiceTy = "service"
    exclusive: bool = False

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


class Failure(msgspec.Struct, frozen=True, array_like=True):
    code: int
    message: str
    metadata: list[tuple[str, str]] = []


class Outcome(msgspec.Struct, frozen=True, array_like=True):
    """The result of an invocation: exactly one of value / failure is set."""

    value: bytes | None = None
    failure: Failure | None = None


class IngressSink(msgspec.Struct, frozen=True, array_like=True):
    """Where to send an invocation's outcome on the ingress: the node name and its request id."""

    node: str
    request_id: int


class CallerSink(msgspec.Struct, frozen=True, array_like=True):
    """A calling invocation waiting for the outcome on one of its completion ids."""

    invocation_id: bytes
    completion_id: int


class InvocationRequest(msgspec.Struct, tag="request", frozen=True, array_like=True):
    """Everything needed to create an invocation, wherever it comes from."""

    invocation_id: bytes
    target: Target
    input: bytes
    headers: list[tuple[str, str]] = []
    idempotency_key: str | None = None
    execute_at_ms: int | None = None
    caller: CallerSink | None = None
    caller_id: bytes | None = None  # set for one-way sends from an invocation (for introspection)


# --- ingress -> partition -----------------------------------------------------------------------


class Invoke(msgspec.Struct, tag="invoke", frozen=True, array_like=True):
    """Create (or attach to) an invocation. `send=True` answers Accepted once durable."""

    request_id: int
    request: InvocationRequest
    send: bool = False


# --- partition -> ingress -----------------------------------------------------------------------


class Accepted(msgspec.Struct, tag="accepted", frozen=True, array_like=True):
    request_id: int
    invocation_id: bytes
    previously_accepted: bool = False
    execute_at_ms: int | None = None


class InvocationDone(msgspec.Struct, tag="done", frozen=True, array_like=True):
    request_id: int
    invocation_id: bytes
    outcome: Outcome


# --- partition <-> partition (outbox) ------------------------------------------------------------


class InvocationResponse(msgspec.Struct, tag="response", frozen=True, array_like=True):
    """The outcome of a callee, delivered to the caller's completion id."""

    caller: CallerSink
    outcome: Outcome


class Signal(msgspec.Struct, tag="signal", frozen=True, array_like=True):
    """A signal (cancel = idx 1, awakeable completion = idx >= 17, or a named signal) for an invocation."""

    invocation_id: bytes
    idx: int | None = None
    name: str | None = None
    outcome: Outcome | None = None  # None = void


OutboxMessage = InvocationRequest | InvocationResponse | Signal


class OutboxEnvelope(msgspec.Struct, tag="outbox", frozen=True, array_like=True):
    """An outbox entry shipped from partition `source`; the receiver dedups on (source, seq)."""

    source: int
    seq: int
    message: OutboxMessage


class OutboxAck(msgspec.Struct, tag="outbox_ack", frozen=True, array_like=True):
    """The receiver has durably applied every envelope from the addressee up to `seq`."""

    seq: int


# --- admin <-> everyone -----------------------------------------------------------------------------


class GetSchema(msgspec.Struct, tag="get_schema", frozen=True, array_like=True):
    """Ask admin for the current schema (sent on start so nobody misses a version)."""


class SchemaUpdate(msgspec.Struct, tag="schema", frozen=True, array_like=True):
    schema: Schema


class SchemaAck(msgspec.Struct, tag="schema_ack", frozen=True, array_like=True):
    version: int


Message = Invoke | Accepted | InvocationDone | OutboxEnvelope | OutboxAck | GetSchema | SchemaUpdate | SchemaAck

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Decodes one message; raises msgspec.DecodeError / ValidationError on bad input."""
    return _decoder.decode(data)
