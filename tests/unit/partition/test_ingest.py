"""Kafka records into invocations: each producer's offsets applied once, in the same transaction as the
invocations they create; re-deliveries (a consumer or partition crash) are skipped, never lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from restate.partition.actions import Reply, StartAttempt
from restate.partition.commands import IngestCmd
from restate.wire import Done, IngestRecord
from tests.unit.partition.harness import Partition, counter_add, request

T = TypeVar("T")
PRODUCER = "sub_1020ZhuLtXKOXg0DnE8ERnr|sub_1020ZhuLtXKOXg0DnE8ERnr|t1|0"


def _records(offsets: range, key: str = "alice") -> list[IngestRecord]:
    return [IngestRecord(o, request(counter_add(key), f"v{o}".encode())) for o in offsets]


def test_each_record_becomes_an_invocation_and_the_batch_is_answered(partition: Partition) -> None:
    records = _records(range(3))
    actions = partition.apply(IngestCmd("kafka", 7, PRODUCER, records))
    assert Reply("kafka", Done(7)) in actions
    first = records[0].request.invocation_id
    assert StartAttempt(first, 0) in actions  # the key's first record runs, the others wait in its inbox
    assert [partition.status(r.request.invocation_id).status for r in records] == ["invoked", "inboxed", "inboxed"]
    assert partition.view.ingested_until(PRODUCER) == 3


def test_a_redelivered_batch_creates_nothing_new_and_is_answered(partition: Partition) -> None:
    records = _records(range(3))
    partition.apply(IngestCmd("kafka", 1, PRODUCER, records[:2]))
    again = _records(range(3))  # re-read after a crash: new request objects, the same offsets
    actions = partition.apply(IngestCmd("kafka", 2, PRODUCER, again))
    assert Reply("kafka", Done(2)) in actions
    assert partition.tables.status(again[0].request.invocation_id) is None  # offsets 0, 1 skipped
    assert partition.tables.status(again[1].request.invocation_id) is None
    assert partition.status(again[2].request.invocation_id).status == "inboxed"  # offset 2 is new
    assert partition.view.ingested_until(PRODUCER) == 3
    actions = partition.apply(IngestCmd("kafka", 3, PRODUCER, _records(range(3))))
    assert actions == [Reply("kafka", Done(3))]


def test_producers_are_deduplicated_separately(partition: Partition) -> None:
    partition.apply(IngestCmd("kafka", 1, PRODUCER, _records(range(5))))
    other = PRODUCER.replace("|0", "|1")  # the topic's next partition: offsets of its own
    records = _records(range(2), key="bob")
    partition.apply(IngestCmd("kafka", 2, other, records))
    assert partition.status(records[0].request.invocation_id).status == "invoked"
    assert (partition.view.ingested_until(PRODUCER), partition.view.ingested_until(other)) == (5, 2)


def test_an_empty_batch_is_answered_and_changes_nothing(partition: Partition) -> None:
    assert partition.apply(IngestCmd("kafka", 9, PRODUCER, [])) == [Reply("kafka", Done(9))]
    assert partition.view.ingested_until(PRODUCER) == 0


def _interleavings(a: list[T], b: list[T]) -> Iterator[list[T]]:
    """Every merge of two sequences that keeps each one's order."""
    if not a or not b:
        yield [*a, *b]
        return
    for rest in _interleavings(a[1:], b):
        yield [a[0], *rest]
    for rest in _interleavings(a, b[1:]):
        yield [b[0], *rest]


@pytest.mark.parametrize(
    ("old_owner", "new_owner"),
    [
        # The old owner's batches were in flight (unanswered, so uncommitted) when a re-balance gave the topic
        # partition to another node, which reads again from the committed offset 0: both send the same offsets.
        ([range(0, 10), range(10, 13)], [range(0, 5), range(5, 15), range(15, 20)]),
        ([range(0, 20)], [range(0, 3), range(3, 20)]),
        ([range(0, 4), range(4, 8)], [range(0, 20)]),
    ],
)
def test_two_nodes_consuming_the_same_topic_partition_during_a_rebalance_create_each_record_once(
    tmp_path: Path, old_owner: list[range], new_owner: list[range]
) -> None:
    """Each consumer sends contiguous offsets from a committed offset (every record below it was applied),
    in order, one batch after the other was answered; the partition gets both consumers' batches in any
    interleaving. Every offset becomes exactly one invocation, whichever delivery arrives first."""
    for n, order in enumerate(_interleavings([("old", r) for r in old_owner], [("new", r) for r in new_owner])):
        partition = Partition(tmp_path / f"p{n}")
        try:
            created: dict[int, int] = {}
            for request_id, (_, offsets) in enumerate(order):
                records = _records(offsets)  # each delivery its own request objects: a duplicate would show
                partition.apply(IngestCmd("kafka", request_id, PRODUCER, records))
                for record in records:
                    if partition.tables.status(record.request.invocation_id) is not None:
                        created[record.offset] = created.get(record.offset, 0) + 1
            assert created == dict.fromkeys(range(20), 1), order
            assert partition.view.ingested_until(PRODUCER) == 20
        finally:
            partition.close()
