"""The Kafka registry admin keeps and publishes: clusters (static and dynamic) and subscriptions."""

from __future__ import annotations

from typing import Literal

import msgspec

SinkType = Literal["service", "virtual_object", "workflow"]

# Forced on every consumer (after the cluster's and the subscription's options), as the real server does:
# offsets are stored by us once an invocation is durable, and librdkafka commits what was stored.
FORCED_CONSUMER_OPTIONS = {"enable.auto.commit": "true", "enable.auto.offset.store": "false"}
BROKER_KEYS = ("bootstrap.servers", "metadata.broker.list")
STATIC_INFO = (
    "This Kafka cluster was configured in the static cluster configuration, this is deprecated. "
    "Please register it using the new Kafka Admin functionalities."
)


class KafkaCluster(msgspec.Struct, frozen=True, omit_defaults=True):
    """A named Kafka cluster: librdkafka properties. Static ones come from the config file."""

    name: str
    properties: dict[str, str]
    created_at_ms: int = 0
    static: bool = False


class Subscription(msgspec.Struct, frozen=True, omit_defaults=True):
    """`kafka://cluster/topic` -> `service://service/handler`; `options` completed at creation."""

    id: str
    cluster: str
    topic: str
    service: str
    handler: str
    sink_type: SinkType
    options: dict[str, str]
    exclusive: bool = False  # the sink handler takes the object's lock

    @property
    def source(self) -> str:
        return f"kafka://{self.cluster}/{self.topic}"

    @property
    def sink(self) -> str:
        return f"service://{self.service}/{self.handler}"

    @property
    def group_id(self) -> str:
        return self.options.get("group.id", self.id)


class KafkaRegistry(msgspec.Struct, frozen=True, omit_defaults=True):
    """Every dynamic cluster and subscription; `version` grows with every change (static clusters are
    the config's and are not stored here)."""

    version: int = 0
    clusters: dict[str, KafkaCluster] = {}
    subscriptions: dict[str, Subscription] = {}


def is_secret(key: str) -> bool:
    """Properties shown as `***` by the admin API (credentials of every SASL/SSL mechanism)."""
    lowered = key.lower()
    return "password" in lowered or "secret" in lowered or lowered in ("sasl.jaas.config", "ssl.key.pem")


def redacted(properties: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if is_secret(k) else v) for k, v in properties.items()}


def consumer_config(cluster: KafkaCluster, subscription: Subscription) -> dict[str, str]:
    """The librdkafka configuration of a subscription's consumer, layered as the real server does."""
    config = dict(cluster.properties)
    config.update(subscription.options)
    config.update(FORCED_CONSUMER_OPTIONS)
    return config


def completed_options(options: dict[str, str], cluster: KafkaCluster, subscription_id: str) -> dict[str, str]:
    """The options stored at creation: `group.id` (options, else the cluster's, else the id) and `client.id`."""
    done = dict(options)
    if "group.id" not in done:
        done["group.id"] = cluster.properties.get("group.id", subscription_id)
    if "client.id" not in done and "client.id" not in cluster.properties:
        done["client.id"] = "restate"
    return done


class ParkedRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """A record that could not become an invocation (e.g. an object sink's key that is not UTF-8): kept by
    admin until an operator replays it (with a key of their choice) or drops it; its offset moved on."""

    subscription: str
    topic: str
    partition: int
    offset: int
    reason: str
    parked_at_ms: int
    key: bytes | None = None
    value: bytes | None = None
    timestamp_ms: int | None = None
    headers: list[tuple[str, bytes | None]] = []

    @property
    def coordinates(self) -> tuple[str, str, int, int]:
        return (self.subscription, self.topic, self.partition, self.offset)
