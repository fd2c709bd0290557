"""The admin app's Kafka registry: dynamic clusters and subscriptions, the static clusters of the config,
and how a change is stored then published (the routes: kafka_clusters.py, subscriptions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restate import metrics
from restate.admin.views import timestamp
from restate.kafka.definitions import STATIC_INFO, KafkaCluster, KafkaRegistry, ParkedRecord, Subscription, redacted

if TYPE_CHECKING:
    from restate.admin.app import AdminApp


def static_clusters(app: AdminApp) -> dict[str, KafkaCluster]:
    return {
        name: KafkaCluster(name, dict(properties), 0, static=True)
        for name, properties in app.config.kafka_clusters.items()
    }


def all_clusters(app: AdminApp) -> dict[str, KafkaCluster]:
    """Dynamic clusters first (in creation order), then the static ones."""
    found = dict(app.kafka.clusters)
    for name, cluster in static_clusters(app).items():
        found.setdefault(name, cluster)
    return found


async def commit(app: AdminApp, registry: KafkaRegistry) -> None:
    """Stores the new registry (bumped to the next version), makes it visible, then publishes it."""
    await app.hooks.persist_kafka(registry)
    app.kafka = registry
    await app.hooks.publish_kafka(registry)


async def commit_parked(app: AdminApp, records: list[ParkedRecord]) -> None:
    """Stores the parked Kafka records, then makes them visible (restate.admin.parked_records)."""
    await app.hooks.persist_parked(records)
    app.parked = records
    count_parked(app.parked)


def count_parked(records: list[ParkedRecord]) -> None:
    """The parked-records gauge of every subscription that has (or had) some."""
    counts: dict[str, int] = {}
    for p in records:
        counts[p.subscription] = counts.get(p.subscription, 0) + 1
    for labels in list(metrics.kafka_parked_now._metrics):  # subscriptions back at zero
        metrics.kafka_parked_now.labels(*labels).set(counts.get(labels[0], 0))
    for sub, count in counts.items():
        metrics.kafka_parked_now.labels(sub).set(count)


def created_at(ms: int) -> str:
    return "1970-01-01T00:00:00Z" if ms == 0 else timestamp(ms)


def cluster_view(cluster: KafkaCluster) -> dict[str, object]:
    out: dict[str, object] = {
        "name": cluster.name,
        "properties": redacted(cluster.properties),
        "created_at": created_at(cluster.created_at_ms),
    }
    return out


def static_info(cluster: KafkaCluster) -> list[dict[str, str]] | None:
    return [{"message": STATIC_INFO}] if cluster.static else None


def subscription_view(sub: Subscription) -> dict[str, object]:
    return {"id": sub.id, "source": sub.source, "sink": sub.sink, "options": dict(sub.options)}
