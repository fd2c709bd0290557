"""Server configuration: a TOML file, overridden by RESTATE_* environment variables, overridden by flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from restate.durations import DurationError, parse_duration_ns
from restate.tracing.endpoint import EndpointError, parse_endpoint


class ConfigError(ValueError):
    """The configuration is invalid; the message names the setting."""


class NodeAddresses(msgspec.Struct, frozen=True, kw_only=True):
    """Cluster mode: where a node serves. Its bus is a range of tcp ports from `bus_address`: admin +0,
    ingress +1, partition i +2+i, Kafka +2+N (N partitions)."""

    bus_address: str
    ingress_address: str
    admin_address: str

    def bus_endpoint(self, process: str, num_partitions: int | None = None) -> str:
        """The ZeroMQ tcp endpoint of one of the node's processes (`admin`, `ingress`, `p<i>`, and `kafka` given
        the cluster's partition count: the partitions' replies to its records reach it from any node)."""
        host, port = parse_bind_address(self.bus_address, "bus-address")
        if process in ("admin", "ingress"):
            offset = 0 if process == "admin" else 1
        elif process.startswith("p") and process[1:].isdigit():
            offset = 2 + int(process[1:])
        elif process == "kafka" and num_partitions is not None:
            offset = 2 + num_partitions
        else:
            raise ValueError(f"no bus endpoint for process {process!r}")
        return f"tcp://{host}:{port + offset}"


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Cluster mode (docs/cluster.md): this node's name, etcd, and every node's addresses
    (read by restate.cluster.cluster_config from `--cluster-config FILE`)."""

    node_name: str
    cluster_name: str = "restate"
    etcd_endpoints: list[str]
    num_partitions: int = 4
    lease_ttl_s: int = 2
    appends_in_flight: int = 1  # per partition leader (docs/cluster.md, "Appends in flight")
    append_linger_us: int = 2000  # a leader's wait for more commands before it appends a batch (0: none)
    replication_factor: int = 2  # replicas per partition (docs/cluster.md, "Placement"); at most len(nodes)
    trim_every: int = 1000  # entries a leader lets accumulate before it trims its log (docs/cluster.md)
    replace_dead_node_after_s: float = 0.0  # a leader moves a dead node's replica after this long (0: never)
    nodes: dict[str, NodeAddresses]

    @property
    def me(self) -> NodeAddresses:
        return self.nodes[self.node_name]


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one server node; crosses the process boundary to every child."""

    base_dir: str = "restate-data"
    ingress_bind_address: str = "127.0.0.1:8080"
    admin_bind_address: str = "127.0.0.1:9070"
    # Where the supervisor serves `/metrics` for the whole node (like the real node port); "" = off.
    node_metrics_bind_address: str = "127.0.0.1:5122"
    # admin.disable-web-ui: no web UI on the admin port (`/` and `/ui/...` answer 404), as the real server's switch.
    admin_disable_web_ui: bool = False
    # One process per partition: as many as cores keeps every core busy without context-switch churn.
    default_num_partitions: int = msgspec.field(default_factory=lambda: max(2, os.cpu_count() or 2))
    # The invoker's defaults, overridable per service from discovery.
    inactivity_timeout_ms: int = 60_000
    abort_timeout_ms: int = 600_000
    retry_initial_interval_ms: int = 500
    retry_max_interval_ms: int = 60_000
    retry_exponentiation_factor: float = 2.0
    retry_max_attempts: int = 70
    request_size_limit: int = 32 * 1024 * 1024
    # worker.invoker.concurrent-invocations-limit: concurrent attempts of each partition (the real server's
    # default and unit, measured), counted when an attempt is admitted; the rest queue.
    invoker_concurrency: int = 1000
    # Ours: concurrent attempts of each partition to one deployment (0 = only the limit above).
    invoker_deployment_concurrency: int = 0
    # Streams per HTTP/2 connection before another connection is opened (see restate/invoker/http2.py
    # for why ours is below the real server's 128).
    http2_streams_per_connection: int = 32
    invoker_connect_timeout_ms: int = 10_000
    # ingress.concurrent-api-requests-limit: requests the ingress serves at once; beyond, 429 at once
    # (0 = unlimited, the real server's default).
    ingress_concurrency_limit: int = 0
    # Ours: requests to one partition the ingress has sent and the partition has not made durable yet;
    # beyond, 429 as above instead of queueing without bound (a saturated or restarting partition). About
    # 5-10 s of a partition's throughput: a burst is absorbed, a partition that fell behind is not buried.
    ingress_partition_backlog_limit: int = 10_000
    # Like the real server: invocations negotiate at most V6 unless this experimental switch is on.
    experimental_protocol_v7: bool = False
    # Static Kafka clusters (`[[ingress.kafka-clusters]]`): name -> librdkafka properties.
    kafka_clusters: dict[str, dict[str, str]] = {}
    # OpenTelemetry: where each process exports its invocation spans ("" = tracing off, the default).
    tracing_endpoint: str = ""
    tracing_headers: dict[str, str] = {}  # sent with every export request (e.g. an API key)
    tracing_service_name: str = "Restate"  # the resource's service.name, the real server's by default
    # Cluster mode (`--node-name` and `--cluster-config`); None: a single node, no etcd (the default).
    cluster: ClusterConfig | None = None

    def host_port(self, which: str) -> tuple[str, int]:
        value = self.ingress_bind_address if which == "ingress" else self.admin_bind_address
        return parse_bind_address(value, f"{which}.bind-address")


def parse_bind_address(value: str, setting: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"{setting}: expected HOST:PORT, got {value!r}")
    if not 0 < int(port) < 65536:
        raise ConfigError(f"{setting}: port {port} is out of range (1-65535)")
    return host, int(port)


# TOML path -> field, and RESTATE_* env var -> field (the real server's names where they exist).
_TOML_KEYS = {
    ("base-dir",): "base_dir",
    ("default-num-partitions",): "default_num_partitions",
    ("ingress", "bind-address"): "ingress_bind_address",
    ("admin", "bind-address"): "admin_bind_address",
    ("admin", "disable-web-ui"): "admin_disable_web_ui",
    ("bind-address",): "node_metrics_bind_address",
    ("ingress", "request-size-limit"): "request_size_limit",
    ("worker", "invoker", "inactivity-timeout"): "inactivity_timeout_ms",
    ("worker", "invoker", "abort-timeout"): "abort_timeout_ms",
    ("worker", "invoker", "concurrent-invocations-limit"): "invoker_concurrency",
    ("worker", "invoker", "deployment-concurrency-limit"): "invoker_deployment_concurrency",
    ("worker", "invoker", "http2-streams-per-connection-limit"): "http2_streams_per_connection",
    ("worker", "invoker", "connect-timeout"): "invoker_connect_timeout_ms",
    ("ingress", "concurrent-api-requests-limit"): "ingress_concurrency_limit",
    ("ingress", "partition-backlog-limit"): "ingress_partition_backlog_limit",
    ("experimental-enable-protocol-v7",): "experimental_protocol_v7",
    ("tracing-endpoint",): "tracing_endpoint",
    ("tracing-headers",): "tracing_headers",
    ("tracing-service-name",): "tracing_service_name",
}
# Settings given as durations ("1m", "PT30S", or a bare number of milliseconds), stored in ms.
_DURATION_FIELDS = ("inactivity_timeout_ms", "abort_timeout_ms", "invoker_connect_timeout_ms")
_ENV_KEYS = {
    "RESTATE_BASE_DIR": "base_dir",
    "RESTATE_DEFAULT_NUM_PARTITIONS": "default_num_partitions",
    "RESTATE_INGRESS__BIND_ADDRESS": "ingress_bind_address",
    "RESTATE_ADMIN__BIND_ADDRESS": "admin_bind_address",
    "RESTATE_ADMIN__DISABLE_WEB_UI": "admin_disable_web_ui",
    "RESTATE_BIND_ADDRESS": "node_metrics_bind_address",
    "RESTATE_INGRESS__REQUEST_SIZE_LIMIT": "request_size_limit",
    "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "experimental_protocol_v7",
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "inactivity_timeout_ms",
    "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "abort_timeout_ms",
    "RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": "invoker_concurrency",
    "RESTATE_WORKER__INVOKER__DEPLOYMENT_CONCURRENCY_LIMIT": "invoker_deployment_concurrency",
    "RESTATE_WORKER__INVOKER__HTTP2_STREAMS_PER_CONNECTION_LIMIT": "http2_streams_per_connection",
    "RESTATE_WORKER__INVOKER__CONNECT_TIMEOUT": "invoker_connect_timeout_ms",
    "RESTATE_INGRESS__CONCURRENT_API_REQUESTS_LIMIT": "ingress_concurrency_limit",
    "RESTATE_TRACING_ENDPOINT": "tracing_endpoint",
    "RESTATE_TRACING_HEADERS": "tracing_headers",  # "name=value,name2=value2" (OTEL_EXPORTER_OTLP_HEADERS' form)
    "RESTATE_TRACING_SERVICE_NAME": "tracing_service_name",
    "RESTATE_INGRESS__PARTITION_BACKLOG_LIMIT": "ingress_partition_backlog_limit",
}


_SETTING_NAMES = {field: ".".join(keys) for keys, field in _TOML_KEYS.items()}
_TYPE_NAMES = {int: "an integer", str: "a string", bool: "true or false", float: "a number",
               dict[str, str]: "a table of strings"}
_FIELD_TYPES = {f.name: f.type for f in msgspec.structs.fields(Config)}
_RANGES: dict[str, tuple[int, int | None]] = {
    "default_num_partitions": (1, 1024),
    "request_size_limit": (1, None),
    "invoker_concurrency": (1, None),
    "invoker_deployment_concurrency": (0, None),
    "http2_streams_per_connection": (1, None),
    "ingress_concurrency_limit": (0, None),
    "ingress_partition_backlog_limit": (0, None),
}


def _duration_ms(origin: str, value: object) -> int:
    """A duration setting in ms: "1m", "PT30S", or a bare number of milliseconds (string or integer)."""
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_duration_ns(value) // 1_000_000
        except DurationError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    if isinstance(value, str):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f'{origin}: expected a duration such as "1m" or "500ms", got {value!r}')
    return value


def _checked(field: str, value: object, origin: str) -> object:
    """`value` converted to the field's type and validated; a ConfigError names `origin` (where it came from)."""
    if field in _DURATION_FIELDS:
        return _duration_ms(origin, value)
    if field == "kafka_clusters":
        return value  # checked when read
    if field == "tracing_headers" and isinstance(value, str):
        value = _header_list(value, origin)
    kind = _FIELD_TYPES.get(field)
    if kind is None:
        return value  # not a setting: msgspec ignores it, as before
    try:
        converted: object = msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError:
        raise ConfigError(f"{origin}: expected {_TYPE_NAMES.get(kind, kind)}, got {value!r}") from None
    if isinstance(converted, int) and field in _RANGES:
        _check_range(converted, *_RANGES[field], origin)
    elif isinstance(converted, str):
        _check_text(field, converted, origin)
    return converted


def _check_range(value: int, low: int, high: int | None, origin: str) -> None:
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{origin}: must be {bounds}, got {value}")


def _check_text(field: str, value: str, origin: str) -> None:
    if field.endswith("_bind_address") and (value or field != "node_metrics_bind_address"):  # "" = no node port
        parse_bind_address(value, origin)
    elif field == "base_dir" and not value:
        raise ConfigError(f"{origin}: must not be empty")
    elif field == "tracing_endpoint" and value:
        try:
            parse_endpoint(value)
        except EndpointError as exc:
            raise ConfigError(f"{origin}: {exc}") from None


def _header_list(value: str, origin: str) -> dict[str, str]:
    """`name=value,name2=value2` (an empty string: none)."""
    headers = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{origin}: expected name=value pairs separated by commas, got {item!r}")
        headers[name.strip()] = text.strip()
    return headers


def _from_toml(path: Path) -> dict[str, tuple[object, str]]:
    """The settings found in the file: field -> (value, its key and the file, for messages)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    found: dict[str, tuple[object, str]] = {}
    for keys, field in _TOML_KEYS.items():
        node: object = data
        for depth, key in enumerate(keys):
            if node is None:  # the table is absent
                break
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(keys[:depth])} (in {path}): expected a table, got {node!r}")
            node = node.get(key)
        if node is not None:
            found[field] = (node, f"{'.'.join(keys)} (in {path})")
    ingress = data.get("ingress")
    if isinstance(ingress, dict) and "kafka-clusters" in ingress:
        found["kafka_clusters"] = (_kafka_clusters(ingress["kafka-clusters"], path), "")
    return found


def _kafka_clusters(value: object, path: Path) -> dict[str, dict[str, str]]:
    """`[[ingress.kafka-clusters]]`: `name`, `brokers` (-> `metadata.broker.list`), other keys as librdkafka's."""
    where = f"ingress.kafka-clusters (in {path})"
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{where}: expected an array of tables, got {value!r}")
    clusters: dict[str, dict[str, str]] = {}
    for item in value:
        name, brokers = item.get("name"), item.get("brokers")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: every cluster needs a `name` string")
        if not isinstance(brokers, list) or not brokers or not all(isinstance(b, str) for b in brokers):
            raise ConfigError(f"{where}: cluster {name!r} needs `brokers`, an array of HOST:PORT strings")
        properties = {"metadata.broker.list": ",".join(brokers)}
        for key, option in item.items():
            if key not in ("name", "brokers"):
                properties[key] = str(option).lower() if isinstance(option, bool) else str(option)
        clusters[name] = properties
    return clusters


_CLUSTER_OVERRIDES = ("node_name", "cluster_config")  # not settings of their own: they select cluster mode


def load(
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Builds the config from file < environment < explicit overrides (None values are ignored).

    A bad value is a ConfigError naming where it came from: the file's key, the variable, or the setting."""
    env = os.environ if env is None else env
    values: dict[str, tuple[object, str]] = {}
    config_file = config_file or env.get("RESTATE_CONFIG")
    if config_file:
        values.update(_from_toml(Path(config_file)))
    values.update({field: (env[var], var) for var, field in _ENV_KEYS.items() if var in env})
    for field, value in (overrides or {}).items():
        if value is not None and field not in _CLUSTER_OVERRIDES:
            values[field] = (value, _SETTING_NAMES.get(field, field.replace("_", "-")))
    checked = {field: _checked(field, value, origin) for field, (value, origin) in values.items()}
    config = msgspec.convert(checked, Config)
    overrides = overrides or {}
    cluster_file = overrides.get("cluster_config") or env.get("RESTATE_CLUSTER_CONFIG")
    node_name = overrides.get("node_name") or env.get("RESTATE_NODE_NAME")
    if cluster_file or node_name:
        config = _with_cluster(config, str(cluster_file or ""), str(node_name or ""))
    return config


def _with_cluster(config: Config, cluster_file: str, node_name: str) -> Config:
    """Cluster mode: the cluster file's partition count and this node's addresses win over the rest."""
    if not cluster_file or not node_name:
        given, missing = ("--node-name", "--cluster-config") if node_name else ("--cluster-config", "--node-name")
        raise ConfigError(f"{given} needs {missing} too (env RESTATE_NODE_NAME, RESTATE_CLUSTER_CONFIG)")
    from restate.cluster.cluster_config import load_cluster_config

    cluster = load_cluster_config(cluster_file, node_name)
    return msgspec.structs.replace(
        config,
        cluster=cluster,
        default_num_partitions=cluster.num_partitions,
        ingress_bind_address=cluster.me.ingress_address,
        admin_bind_address=cluster.me.admin_address,
    )
