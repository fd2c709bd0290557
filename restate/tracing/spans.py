"""The span model of the real server (no I/O, no OpenTelemetry import): `ingress {target}` ->
`invocation-start {target}` -> one `invocation-attempt {target}` per attempt (journal commands as events)
and `invocation-end {target}`, with the real server's names, attributes, statuses and ids.

A span is a plain value here; restate.tracing.exporter turns it into an OpenTelemetry span."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

from restate.ids import invocation_id_text
from restate.protocol import messages
from restate.protocol.framing import MessageType
from restate.tracing.trace_context import attempt_span_id, end_span_id, start_span_id
from restate.wire import Target, TraceContext

Attributes = dict[str, str | int | float | bool]
Status = Literal["unset", "ok", "error"]


class Event(msgspec.Struct, frozen=True):
    name: str
    time_ns: int
    attributes: Attributes


class Link(msgspec.Struct, frozen=True):
    trace_id: bytes
    span_id: bytes
    attributes: Attributes


class Span(msgspec.Struct):
    """A finished span, ready to export."""

    name: str
    trace_id: bytes
    span_id: bytes
    parent_id: bytes | None
    start_ns: int
    end_ns: int
    attributes: Attributes
    trace_state: str = ""
    parent_remote: bool = False
    events: list[Event] = []
    links: list[Link] = []
    status: Status = "unset"
    status_message: str = ""


class Invocation(msgspec.Struct, frozen=True):
    """What every invocation span says about its invocation."""

    id_text: str  # inv_...
    id: bytes
    service: str
    handler: str
    key: str | None

    @property
    def span_target(self) -> str:
        """The target in span names: objects and workflows show the literal `{key}`, as the real server."""
        return f"{self.service}/{self.handler}" if self.key is None else f"{self.service}/{{key}}/{self.handler}"

    @property
    def target(self) -> str:
        return f"{self.service}/{self.handler}" if self.key is None else f"{self.service}/{self.key}/{self.handler}"

    def attributes(self) -> Attributes:
        return {
            "rpc.service": self.service,
            "rpc.method": self.handler,
            "restate.invocation.id": self.id_text,
            "restate.invocation.target": self.target,
        }


def invocation(inv_id: bytes, target: Target) -> Invocation:
    return Invocation(invocation_id_text(inv_id), inv_id, target.service, target.handler, target.key)


def now_ns() -> int:
    return time.time_ns()


def ingress_span(inv: Invocation, ctx: TraceContext, client_span_id: bytes | None, peer: tuple[str, int] | None,
                 at_ns: int) -> Span:  # fmt: skip
    """The zero-duration `ingress {target}` span; `ctx.parent_span_id` is its own id (the start span's parent)."""
    attrs = inv.attributes()
    if peer is not None:
        attrs["client.socket.address"] = peer[0]
        attrs["client.socket.port"] = peer[1]
    assert ctx.parent_span_id is not None
    return Span(
        f"ingress {inv.span_target}", ctx.trace_id, ctx.parent_span_id, client_span_id, at_ns, at_ns, attrs,
        ctx.trace_state, parent_remote=client_span_id is not None,
    )  # fmt: skip


def start_span(inv: Invocation, ctx: TraceContext, created_ms: int, first_attempt_ns: int) -> Span:
    """`invocation-start {target}`: from the invocation's creation (ms precision) to its first attempt."""
    links = []
    if ctx.link_trace_id is not None and ctx.link_span_id is not None:
        links.append(Link(ctx.link_trace_id, ctx.link_span_id, {"restate.runtime": True}))
    return Span(
        f"invocation-start {inv.span_target}", ctx.trace_id, start_span_id(inv.id), ctx.parent_span_id,
        created_ms * 1_000_000, max(first_attempt_ns, created_ms * 1_000_000), inv.attributes(), ctx.trace_state,
        links=links,
    )  # fmt: skip


def end_span(inv: Invocation, ctx: TraceContext, failure: tuple[int, str] | None, at_ns: int) -> Span:
    """`invocation-end {target}` at completion: result, and the failure's message and code."""
    attrs = inv.attributes()
    span = Span(
        f"invocation-end {inv.span_target}", ctx.trace_id, end_span_id(inv.id), start_span_id(inv.id), at_ns, at_ns,
        attrs, ctx.trace_state, status="ok",
    )  # fmt: skip
    if failure is None:
        attrs["restate.invocation.result"] = "success"
    else:
        code, message = failure
        attrs["restate.invocation.result"] = "failure"
        attrs["error.message"] = message
        attrs["restate.invocation.error.code"] = error_code(code)
        span.status, span.status_message = "error", message
    return span


# The canonical names the real server appends to a failure's HTTP-like code ("409 Aborted").
_CODE_NAMES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    409: "Aborted", 412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal", 501: "Unimplemented",
    503: "Unavailable", 504: "Deadline Exceeded",
}  # fmt: skip


def error_code(code: int) -> str:
    name = _CODE_NAMES.get(code)
    return str(code) if name is None else f"{code} {name}"


def _command_type_name(member: MessageType) -> str:
    return "Command/" + "".join(part.capitalize() for part in member.name.split("_"))


COMMAND_TYPES = {m.value: _command_type_name(m) for m in MessageType if 0x0400 <= m.value <= 0x7FFF}
NEW_COMMAND = "restate.invocation.lifecycle.new_command"
RUN_ENDED = "restate.invocation.lifecycle.run_ended"
SUSPENDED = "restate.invocation.lifecycle.suspended"


AttemptEnd = Literal["ended", "suspended", "failed", "killed"]


class AttemptSpan:
    """An `invocation-attempt {target}` span while its attempt runs: the commands the SDK sends become
    events; `finish` gives the span (OK for an attempt that ended, a TerminalError too: it ends with
    Output; a `suspended` event and no status for one that suspended; ERROR "transient failure" for one
    that failed and is retried), as the real server's.

    Ours adds, without changing the real server's shape: the attempt's number, how it ended
    (`restate.attempt.end`) and a failed attempt's error (`error.message`); a run's result and
    duration on its `run_ended` event (`restate.run.result`, `restate.run.duration_ms`)."""

    __slots__ = ("inv", "ctx", "number", "start_ns", "attributes", "events", "runs")

    def __init__(self, inv: Invocation, ctx: TraceContext, number: int, deployment_id: str, address: str,
                 protocol_version: int) -> None:  # fmt: skip
        self.inv, self.ctx, self.number = inv, ctx, number
        self.start_ns = now_ns()
        self.attributes: Attributes = {"rpc.system": "restate", **inv.attributes()}
        self.attributes["restate.deployment.id"] = deployment_id
        self.attributes["restate.deployment.address"] = address
        self.attributes["restate.deployment.service_protocol_version"] = protocol_version
        self.attributes["restate.attempt.number"] = number
        self.events: list[Event] = []
        self.runs: dict[int, int] = {}  # completion id of a ctx.run -> when its command came (ns)

    @property
    def span_id(self) -> bytes:
        return attempt_span_id(self.inv.id, self.number)

    def message(self, msg_type: int, payload: bytes) -> None:
        """A message the SDK sent: a command, or the proposal of a run's result."""
        command = COMMAND_TYPES.get(msg_type)
        at = now_ns()
        if command is not None:
            attrs: Attributes = {"restate.journal.command.type": command}
            decoded = _decoded(msg_type, payload)
            name = getattr(decoded, "name", "") or ""
            if name:
                attrs["restate.journal.command.name"] = name
            if msg_type == MessageType.RUN:
                self.runs[decoded.result_completion_id] = at
            self.events.append(Event(NEW_COMMAND, at, attrs))
        elif msg_type == MessageType.PROPOSE_RUN_COMPLETION:
            proposal = _decoded(msg_type, payload)
            if proposal is None:
                return
            completion_id = proposal.result_completion_id
            result = "failure" if proposal.WhichOneof("result") == "failure" else "success"
            attrs = {"restate.journal.notification.id": f"CompletionId: {completion_id}", "restate.run.result": result}
            started = self.runs.pop(completion_id, None)
            if started is not None:
                attrs["restate.run.duration_ms"] = round((at - started) / 1e6, 3)
            self.events.append(Event(RUN_ENDED, at, attrs))

    def finish(self, end: AttemptEnd, error: str = "") -> Span:
        """The span of the attempt that ended this way (`error`: a failed attempt's failure)."""
        self.attributes["restate.attempt.end"] = end
        status: Status = "ok"
        message = ""
        if end == "suspended":
            status = "unset"
            self.events.append(Event(SUSPENDED, now_ns(), {}))
        elif end in ("failed", "killed"):
            status, message = "error", "transient failure" if end == "failed" else "killed"
            if error:
                self.attributes["error.message"] = error
        return Span(
            f"invocation-attempt {self.inv.span_target}", self.ctx.trace_id, self.span_id, start_span_id(self.inv.id),
            self.start_ns, now_ns(), self.attributes, self.ctx.trace_state, events=self.events, status=status,
            status_message=message,
        )  # fmt: skip


def _decoded(msg_type: int, payload: bytes) -> Any:
    try:
        return messages.decode_message(msg_type, payload)
    except Exception:  # a message the protocol layer refuses is the attempt's problem, not the span's
        return None
