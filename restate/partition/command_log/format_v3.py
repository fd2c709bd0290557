"""Version 3 of the log entry format: version 2 plus the `ingest` command (Kafka records into invocations).

Frozen once released. Every value struct and command of version 2 is unchanged, so they are version 2's
(and version 1's) own structs, imported (those modules are frozen too: the bytes they write are the same
here); only the new command, the command union and the entry are defined here. See docs/log-format.md."""

from __future__ import annotations

from restate.partition.command_log import format_v1 as v1
from restate.partition.command_log import format_v2 as v2

VERSION = 3


class IngestRecord(v1._Value, frozen=True):
    """A Kafka record's offset and the invocation it becomes."""

    offset: int
    request: v2.InvocationRequest


class Ingest(v1._Value, frozen=True, tag="ingest", tag_field="type"):
    node: str
    request_id: int
    producer: str
    records: list[IngestRecord]


Command = (
    v2.Invoke | Ingest | v2.Outbox | v1.RequestFrom | v1.OutboxAck | v1.TimerFired | v1.SdkMessage | v1.Suspended
    | v1.End | v1.AttemptFailed
)  # fmt: skip


class Entry(v1._Value, frozen=True):
    """A log entry: `v` is the format version (always written, read first)."""

    v: int
    partition: int
    num_partitions: int
    now_ms: int
    schema_version: int
    protocol_v7: bool
    commands: list[Command]
