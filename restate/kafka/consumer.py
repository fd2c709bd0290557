"""One subscription's Kafka consumer (confluent-kafka): records in batches, each batch made durable as
invocations on the partitions before its offsets are stored for librdkafka's commit.

Exactly once into Restate: a batch's records go to the partitions as `Ingest` requests, one per (topic
partition, Restate partition), re-sent until answered; the partitions skip offsets they already applied.
The next batch is read only once every request of this one is answered, so a partition never sees a
producer's offsets out of order. Offsets are stored (and later committed) only after that: a crash
anywhere re-delivers from the last committed offset, and the re-delivered records are skipped."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from restate import metrics
from restate.kafka.definitions import KafkaCluster, Subscription, consumer_config
from restate.kafka.record_invocation import KafkaRecord, Unusable, by_partition, producer_id, to_ingest
from restate.tracing.exporter import SpanExporter
from restate.wire import Done, IngestRecord

log = logging.getLogger(__name__)

BATCH_MAX = 2000
POLL_TIMEOUT_S = 0.5
RETRY_S = (0.2, 0.4, 0.8, 1.6, 3.2, 5.0)

Ingest = Callable[[int, str, list[IngestRecord]], Awaitable[Done]]  # (partition key, producer, records)
Park = Callable[[Subscription, KafkaRecord, str], Awaitable[None]]


def read_record(message: Any) -> KafkaRecord:
    """A confluent_kafka.Message as our value."""
    kind, ts = message.timestamp()
    headers = message.headers() or []
    return KafkaRecord(
        topic=message.topic(), partition=message.partition(), offset=message.offset(), key=message.key(),
        value=message.value(), timestamp_ms=ts if kind != 0 else None, headers=list(headers),
    )  # fmt: skip


class SubscriptionConsumer:
    """Runs one subscription until `stop()`: poll, ingest, store offsets; errors are logged and retried."""

    def __init__(
        self, sub: Subscription, cluster: KafkaCluster, ingest: Ingest, park: Park, num_partitions: int,
        tracer: SpanExporter | None = None,
    ) -> None:  # fmt: skip
        self.sub = sub
        self.cluster = cluster
        self._ingest = ingest
        self._park = park
        self._num_partitions = num_partitions
        self._tracer = tracer  # None: tracing is off
        self._stopping = False
        self._consumer: Any = None
        self._warned: dict[str, float] = {}  # error message -> when it was last logged
        labels = (sub.id, sub.topic)
        self._consumed = metrics.kafka_records_consumed.labels(*labels)
        self._created = metrics.kafka_invocations_created.labels(*labels)
        self._parked = metrics.kafka_records_parked.labels(*labels)

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        """Until stopped: a consumer that cannot even be created (a bad librdkafka option) is retried too,
        as the real server's subscription task is, with its error logged and counted."""
        failures = 0
        while not self._stopping:
            try:
                await self._consume()
                return
            except Exception as exc:
                metrics.kafka_errors.labels(self.sub.id, type(exc).__name__).inc()
                self._warn_once_a_minute(f"cannot consume: {exc}")
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1

    async def _consume(self) -> None:
        from confluent_kafka import Consumer

        config = consumer_config(self.cluster, self.sub)
        log.info("subscription %s: consuming %s with %s", self.sub.id, self.sub.source, _loggable(config))
        self._consumer = Consumer(config, logger=log)
        try:
            await asyncio.to_thread(self._consumer.subscribe, [self.sub.topic], on_revoke=self._on_revoke)
            failures = 0
            while not self._stopping:
                try:
                    await self._step()
                    failures = 0
                except Exception as exc:  # the broker, the partitions: retried with backoff, never given up
                    metrics.kafka_errors.labels(self.sub.id, type(exc).__name__).inc()
                    log.warning("subscription %s: %r; retrying", self.sub.id, exc)
                    await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                    failures += 1
        finally:
            await asyncio.to_thread(self._close)

    def _warn_once_a_minute(self, message: str) -> None:
        """An error the broker repeats at every poll (an unknown topic) is logged once a minute, not twice a second."""
        now = time.monotonic()
        if now - self._warned.get(message, -math.inf) >= 60.0:
            self._warned[message] = now
            log.warning("subscription %s: %s", self.sub.id, message)

    def _close(self) -> None:
        try:
            self._consumer.close()  # commits what was stored
        except Exception as exc:
            log.warning("subscription %s: close: %r", self.sub.id, exc)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        try:
            consumer.commit(asynchronous=False)
        except Exception as exc:  # nothing stored yet: nothing to commit
            log.debug("subscription %s: commit on revoke: %r", self.sub.id, exc)

    async def _step(self) -> None:
        messages = await asyncio.to_thread(self._consumer.consume, BATCH_MAX, POLL_TIMEOUT_S)
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != -191:  # _PARTITION_EOF is no error
                    metrics.kafka_errors.labels(self.sub.id, error.name()).inc()
                    self._warn_once_a_minute(str(error))
                continue
            records.append(read_record(message))
        if records:
            await self.ingest(records)
            offsets = _next_offsets(records)
            await asyncio.to_thread(self._store, offsets)

    async def ingest(self, records: list[KafkaRecord]) -> None:
        """Makes every record durable as an invocation (or parked), in offset order per topic partition."""
        self._consumed.inc(len(records))
        batches: dict[tuple[str, int], list[IngestRecord]] = {}
        for record in records:
            made = to_ingest(self.sub, record)
            if isinstance(made, Unusable):
                await self._park(self.sub, record, made.reason)
                self._parked.inc()
                continue
            if self._tracer is not None:  # its ingress_kafka span, the invocation's parent
                where = (record.topic, record.partition, record.offset)
                trace = self._tracer.kafka(made.request, self.sub.group_id, *where)
                made = IngestRecord(made.offset, msgspec.structs.replace(made.request, trace=trace))
            batches.setdefault((record.topic, record.partition), []).append(made)
        started = time.monotonic()
        requests = []
        for (topic, partition), made_records in batches.items():
            producer = producer_id(self.sub, topic, partition)
            for partition_records in by_partition(made_records, self._num_partitions).values():
                key = int.from_bytes(partition_records[0].request.invocation_id[:8], "big")
                requests.append(self._ingest(key, producer, partition_records))
        await asyncio.gather(*requests)
        self._created.inc(sum(len(b) for b in batches.values()))
        log.debug("subscription %s: %d records durable in %.3fs", self.sub.id, len(records), time.monotonic() - started)

    def _store(self, offsets: dict[tuple[str, int], int]) -> None:
        from confluent_kafka import TopicPartition

        self._consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        for (topic, partition), next_offset in offsets.items():
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except Exception:
                continue
            if high >= 0:
                metrics.kafka_lag.labels(self.sub.id, topic, str(partition)).set(max(0, high - next_offset))


def _next_offsets(records: list[KafkaRecord]) -> dict[tuple[str, int], int]:
    """The offset to commit per topic partition: the one after its last record."""
    found: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        found[key] = max(found.get(key, 0), record.offset + 1)
    return found


def _loggable(config: dict[str, str]) -> dict[str, str]:
    from restate.kafka.definitions import redacted

    return redacted(config)
