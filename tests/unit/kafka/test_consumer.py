"""The consumer's I/O shell where it needs no broker: a consumer that cannot be created is retried, counted,
and stops when asked (the real server's subscription task loops the same way)."""

from __future__ import annotations

import asyncio

from restate import metrics
from restate.kafka.consumer import SubscriptionConsumer
from restate.kafka.definitions import KafkaCluster, Subscription
from restate.wire import Done, IngestRecord

SUB = Subscription("sub_13pyQy6ZRYx5OvXdpH7gAFP", "c", "t", "KSvc", "raw", "service",
                   {"group.id": "g", "no.such.property": "1"})  # fmt: skip


async def _never(key: int, producer: str, records: list[IngestRecord]) -> Done:
    raise AssertionError("nothing can be consumed")


async def _no_park(*args: object) -> None:
    raise AssertionError("nothing can be parked")


def test_a_consumer_that_cannot_be_created_is_retried_counted_and_stops() -> None:
    errors = metrics.kafka_errors.labels(SUB.id, "KafkaException")
    before = errors._value.get()

    async def scenario() -> None:
        consumer = SubscriptionConsumer(SUB, KafkaCluster("c", {"bootstrap.servers": "127.0.0.1:1"}), _never,
                                        _no_park, 2)  # fmt: skip
        task = asyncio.get_running_loop().create_task(consumer.run())
        async with asyncio.timeout(10):
            while errors._value.get() < before + 2:  # failed, waited, failed again
                await asyncio.sleep(0.05)
        assert not task.done()
        consumer.stop()
        async with asyncio.timeout(10):
            await task

    asyncio.run(scenario())
