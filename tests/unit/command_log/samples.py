"""One sample log entry per command type and message variant, with every field set (`*_full`) or only
the required ones: the golden fixtures are these entries' bytes (write_fixtures.py)."""

from __future__ import annotations

from restate import ids
from restate.partition.commands import (
    AttemptFailedCmd,
    Command,
    EndCmd,
    IngestCmd,
    InvokeCmd,
    LogEntry,
    OutboxAckCmd,
    OutboxCmd,
    RequestCmd,
    SdkMessageCmd,
    SuspendedCmd,
    TimerFiredCmd,
)
from restate.wire import (
    ATTACH_COMPLETION,
    AttachOutput,
    CallerSink,
    Failure,
    IngestRecord,
    IngressSink,
    InvocationRequest,
    InvocationResponse,
    ManageInvocation,
    Outcome,
    OutputRequest,
    ReplaceObjectState,
    ResolveAwakeable,
    Signal,
    Target,
    TraceContext,
)

NOW = 1_700_000_000_000
INV = ids.InvocationId(0x1234_5678_9ABC_DEF0, bytes(range(16))).to_bytes()
CALLER = ids.InvocationId(0x0FED_CBA9_8765_4321, bytes(range(16, 32))).to_bytes()
COUNTER_ADD = Target("Counter", "add", "alice", "virtual_object", True)
GREETER = Target("Greeter", "greet")
FAILURE = Failure(500, "boom", [("k", "v")], "Traceback: ...")


def _request_full() -> InvocationRequest:
    return InvocationRequest(
        invocation_id=INV,
        target=COUNTER_ADD,
        input=b'{"n":1}',
        headers=[("x-a", "1"), ("x-b", "2")],
        idempotency_key="idem-1",
        execute_at_ms=NOW + 60_000,
        caller=CallerSink(CALLER, 3, ATTACH_COMPLETION),
        caller_id=CALLER,
        trace=TraceContext(bytes(range(16)), bytes(range(8)), "vendor=abc", bytes(range(1, 17)), bytes(range(1, 9))),
    )


def _commands() -> dict[str, Command]:
    caller = CallerSink(CALLER, 2)
    return {
        "invoke": InvokeCmd(InvocationRequest(INV, GREETER, b"")),
        "invoke_full": InvokeCmd(_request_full(), IngressSink("ingress-0", 42), True),
        "outbox_invocation_request": OutboxCmd(1, 7, InvocationRequest(INV, GREETER, b"in")),
        "outbox_invocation_request_full": OutboxCmd(1, 8, _request_full()),
        "outbox_invocation_response": OutboxCmd(2, 9, InvocationResponse(caller, Outcome(value=b'"ok"'))),
        "outbox_invocation_response_failure": OutboxCmd(2, 10, InvocationResponse(caller, Outcome(failure=FAILURE))),
        "outbox_invocation_response_void": OutboxCmd(2, 11, InvocationResponse(caller, Outcome())),
        "outbox_signal": OutboxCmd(3, 12, Signal(INV)),
        "outbox_signal_full": OutboxCmd(3, 13, Signal(INV, 17, "approved", Outcome(value=b"yes"))),
        "outbox_attach_output": OutboxCmd(0, 14, AttachOutput(INV, caller)),
        "request_output": RequestCmd("ingress-0", OutputRequest(5, INV, True)),
        "request_resolve_awakeable": RequestCmd("ingress-0", ResolveAwakeable(6, INV, 17, Outcome(value=b"1"))),
        "request_manage": RequestCmd("admin-0", ManageInvocation(7, INV, "purge_journal")),
        "request_replace_state": RequestCmd("admin-0", ReplaceObjectState(8, "Counter", "alice", [])),
        "request_replace_state_full": RequestCmd(
            "admin-0", ReplaceObjectState(9, "Counter", "alice", [(b"count", b"5"), (b"name", b"")], "v-digest")
        ),
        "outbox_ack": OutboxAckCmd(3, 99),
        "timer_fired": TimerFiredCmd(NOW + 300, INV, 1),
        "sdk_message": SdkMessageCmd(INV, 2, 0x0400, 0x8000, b"\x0a\x03abc"),
        "suspended": SuspendedCmd(INV, 2, b"\x0a\x01\x01"),
        "end": EndCmd(INV, 2),
        "attempt_failed": AttemptFailedCmd(INV, 1, Failure(500, "boom"), 250),
        "attempt_failed_full": AttemptFailedCmd(INV, 3, FAILURE, None, "pause"),
        "ingest": IngestCmd("kafka", 44, "sub_1020ZhuLtXKOXg0DnE8ERnr|g|t1|3", []),
        "ingest_full": IngestCmd("kafka", 45, "sub_1020ZhuLtXKOXg0DnE8ERnr|g|t1|3", [
            IngestRecord(7, InvocationRequest(INV, COUNTER_ADD, b"v", [("kafka.offset", "7")])),
            IngestRecord(9, _request_full()),
        ]),  # fmt: skip
    }


def samples() -> dict[str, LogEntry]:
    """Every sample as an entry of its own, plus `batch` (all of them in one entry)."""
    commands = _commands()
    entries = {name: LogEntry(3, 4, NOW, 12, False, [command]) for name, command in commands.items()}
    entries["batch"] = LogEntry(0, 1, NOW + 1, 0, True, list(commands.values()))
    return entries
