"""Log lines about an invocation name it and its trace (the partition's line about a command it dropped)."""

from __future__ import annotations

import msgspec

from restate import ids
from restate.partition.commands import EndCmd, InvokeCmd, OutboxAckCmd, describe_invocation
from restate.wire import InvocationRequest, Target, TraceContext

INV = ids.InvocationId.parse("inv_1kttpiSP7bH50Bkil0qkS9pwkTnmbHfA8q")


def test_a_command_of_an_invocation_names_it_and_its_trace() -> None:
    request = InvocationRequest(INV.to_bytes(), Target("S", "h"), b"")
    traced = msgspec.structs.replace(request, trace=TraceContext(bytes(range(16)), bytes(8)))
    assert describe_invocation(InvokeCmd(traced)) == f" (invocation {INV} trace {bytes(range(16)).hex()})"
    assert describe_invocation(InvokeCmd(request)) == f" (invocation {INV})"
    assert describe_invocation(EndCmd(INV.to_bytes(), 1)) == f" (invocation {INV})"


def test_other_commands_name_nothing() -> None:
    assert describe_invocation(OutboxAckCmd(1, 2)) == ""
