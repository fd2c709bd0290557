"""Kafka records into invocations, exactly once: each producer's offsets are applied in order, once.

A producer is one subscription's topic partition. The consumer sends its records in offset order and
re-sends a batch until it is answered, across crashes of either side (Kafka re-delivers from the last
committed offset): a record at an offset below the producer's `ingested_until` was already turned into an
invocation here, in an earlier transaction, and is skipped. The check and the invocations it creates are in
the same transaction, so a crash never separates them."""

from __future__ import annotations

from restate.partition.actions import Reply
from restate.partition.apply_context import ApplyContext
from restate.partition.commands import IngestCmd
from restate.partition.lifecycle import on_invoke
from restate.wire import Done


def on_ingest(ctx: ApplyContext, cmd: IngestCmd) -> None:
    start = next_offset = ctx.tables.ingested_until(cmd.producer)
    for record in cmd.records:
        if record.offset < next_offset:
            continue  # a re-delivery of a record already applied
        on_invoke(ctx, record.request, None, False)
        next_offset = record.offset + 1
    if next_offset != start:
        ctx.tables.set_ingested_until(cmd.producer, next_offset)
    ctx.actions.append(Reply(cmd.node, Done(cmd.request_id)))
