"""The cluster configuration file (TOML): etcd endpoints, partitions, lease, and every node's addresses
(read into restate.config.ClusterConfig, which travels inside every process's Config)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from restate.config import ClusterConfig, ConfigError, NodeAddresses, parse_bind_address
from restate.durations import DurationError, parse_duration_ns

if TYPE_CHECKING:
    from restate.ipc.node import BusDirectory

_KEYS = {
    "cluster-name", "etcd-endpoints", "num-partitions", "lease-ttl", "appends-in-flight", "append-linger",
    "replication-factor", "trim-every", "replace-dead-node-after", "nodes",
}  # fmt: skip
MAX_APPENDS_IN_FLIGHT = 64
DEFAULT_APPEND_LINGER_US = 2000  # a leader's wait for more commands before an append (docs/cluster.md, Performance)
MAX_APPEND_LINGER_US = 100_000
DEFAULT_REPLICATION_FACTOR = 2  # replicas per partition; fewer when the cluster has fewer nodes
_NODE_KEYS = {"bus-address": "bus_address", "ingress-address": "ingress_address", "admin-address": "admin_address"}


def load_cluster_config(path: str, node_name: str | None) -> ClusterConfig:
    """Reads and checks FILE for node `node_name` (None: for a tool, no node of its own); ConfigError
    naming the key (and the file) otherwise."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read cluster config file {path}: {exc}") from exc
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]} (in {path}): unknown cluster setting")
    return _parse(data, path, node_name)


def _parse(data: dict[str, object], path: str, node_name: str | None) -> ClusterConfig:
    where = f"(in {path})"
    name = data.get("cluster-name", "restate")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"cluster-name {where}: expected a name without '/', got {name!r}")
    endpoints = data.get("etcd-endpoints")
    if not isinstance(endpoints, list) or not endpoints or not all(isinstance(e, str) for e in endpoints):
        raise ConfigError(f"etcd-endpoints {where}: expected a non-empty list of HOST:PORT strings")
    for endpoint in endpoints:
        parse_bind_address(endpoint.removeprefix("http://"), f"etcd-endpoints {where}")
    partitions = data.get("num-partitions", 4)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= 1024:
        raise ConfigError(f"num-partitions {where}: must be an integer between 1 and 1024, got {partitions!r}")
    ttl = data.get("lease-ttl", "2s")
    try:
        ttl_s = parse_duration_ns(str(ttl)) // 1_000_000_000 if isinstance(ttl, str) else ttl
    except DurationError as exc:
        raise ConfigError(f"lease-ttl {where}: {exc}") from exc
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s < 1:
        raise ConfigError(f"lease-ttl {where}: must be at least 1s, got {ttl!r}")
    in_flight = data.get("appends-in-flight", 1)
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or not 1 <= in_flight <= MAX_APPENDS_IN_FLIGHT:
        raise ConfigError(
            f"appends-in-flight {where}: must be an integer between 1 and {MAX_APPENDS_IN_FLIGHT}, got {in_flight!r}"
        )
    trim_every = data.get("trim-every", 1000)
    if isinstance(trim_every, bool) or not isinstance(trim_every, int) or not 1 <= trim_every <= 1_000_000:
        raise ConfigError(f"trim-every {where}: must be an integer between 1 and 1000000, got {trim_every!r}")
    linger = data.get("append-linger", f"{DEFAULT_APPEND_LINGER_US}us")
    try:
        linger_us = parse_duration_ns(linger) // 1000 if isinstance(linger, str) else None
    except DurationError as exc:
        raise ConfigError(f"append-linger {where}: {exc}") from exc
    if linger_us is None or linger_us > MAX_APPEND_LINGER_US:
        raise ConfigError(f'append-linger {where}: expected a duration up to 100ms ("2ms"), got {linger!r}')
    nodes = _nodes(data.get("nodes"), where)
    factor = data.get("replication-factor", min(DEFAULT_REPLICATION_FACTOR, len(nodes)))
    if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= len(nodes):
        raise ConfigError(
            f"replication-factor {where}: must be an integer between 1 and the number of nodes ({len(nodes)}),"
            f" got {factor!r}"
        )
    if node_name is not None and node_name not in nodes:
        known = ", ".join(sorted(nodes)) or "none"
        raise ConfigError(f"node name {node_name!r} is not in [nodes] {where} (known: {known})")
    return ClusterConfig(
        node_name=node_name or "",
        cluster_name=name,
        etcd_endpoints=list(endpoints),
        num_partitions=partitions,
        lease_ttl_s=ttl_s,
        appends_in_flight=in_flight,
        append_linger_us=linger_us,
        replication_factor=factor,
        trim_every=trim_every,
        replace_dead_node_after_s=_replace_after_s(data, where, ttl_s),
        nodes=nodes,
    )


def _replace_after_s(data: dict[str, object], where: str, ttl_s: int) -> float:
    """`replace-dead-node-after`: 0 (off, the default) or at least a lease TTL (a node is dead only once its
    membership lease expired)."""
    value = data.get("replace-dead-node-after", "0s")
    try:
        ns = parse_duration_ns(value) if isinstance(value, str) else None
    except DurationError as exc:
        raise ConfigError(f"replace-dead-node-after {where}: {exc}") from exc
    if ns is None or 0 < ns < ttl_s * 1_000_000_000:
        raise ConfigError(
            f'replace-dead-node-after {where}: expected "0s" (off) or a duration of at least the lease TTL'
            f" ({ttl_s}s), got {value!r}"
        )
    return ns / 1e9


def _nodes(table: object, where: str) -> dict[str, NodeAddresses]:
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"nodes {where}: expected a table with one table per node ([nodes.NAME])")
    nodes = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"nodes.{name} {where}: expected a table")
        missing = [key for key in _NODE_KEYS if key not in entry]
        if missing:
            raise ConfigError(f"nodes.{name}.{missing[0]} {where}: missing")
        values = {}
        for key, field in _NODE_KEYS.items():
            value = entry[key]
            if not isinstance(value, str):
                raise ConfigError(f"nodes.{name}.{key} {where}: expected HOST:PORT, got {value!r}")
            parse_bind_address(value, f"nodes.{name}.{key} {where}")
            values[field] = value
        nodes[name] = NodeAddresses(**values)
    return nodes


def bus_directory(cluster: ClusterConfig) -> BusDirectory:
    """The bus of a cluster node: its processes' peers on other nodes are reached over tcp."""
    from restate.ipc.node import BusDirectory

    return BusDirectory(
        cluster.node_name, lambda node, process: cluster.nodes[node].bus_endpoint(process, cluster.num_partitions)
    )
