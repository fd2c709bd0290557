"""The admin app's Kafka registry: dynamic clusters and subscriptions, the static clusters of the config,
and how a change is stored then published (the routes: kafka_clusters.py, subscriptions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restate.admin.views import timestamp
from restate.kafka.definitions import STATIC_INFO, KafkaCluster, KafkaRegistry, Subscription, redacted

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
