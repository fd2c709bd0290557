"""`restate cluster status`, `move-leader` and `move-replica`: nodes, partitions, leaders, epochs and
replica lag, read from etcd; leadership and replicas moved by hand.

Unlike the other commands it asks etcd, not a node's admin API: it works while nodes are down, which is
when it is needed (the cluster file names the etcd endpoints)."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import msgspec
import typer

from cli.commands.common import EXIT_UNREACHABLE, EXIT_USAGE, JSON_OPTION, fail, print_json, show, table

if TYPE_CHECKING:
    from restate.config import ClusterConfig

app = typer.Typer(help="Cluster mode: the state of the nodes and partitions (from etcd).", no_args_is_help=True)

CLUSTER_CONFIG_OPTION = typer.Option(
    None, "--cluster-config", help="The cluster's TOML file (env RESTATE_CLUSTER_CONFIG)"
)


@app.command("status")
def status(cluster_config: str | None = CLUSTER_CONFIG_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Nodes (alive or not), and per partition its replicas, leader, epoch, last log entry and each replica's
    lag ("-": the node holds no replica of it)."""
    from restate.cluster.etcd_client import EtcdUnavailable
    from restate.cluster.status import read_status

    cluster = _cluster(cluster_config)
    try:
        state = asyncio.run(read_status(cluster))
    except EtcdUnavailable as exc:
        fail(f"etcd did not answer ({', '.join(cluster.etcd_endpoints)}): {exc}", EXIT_UNREACHABLE)
    if as_json:
        print_json(msgspec.to_builtins(state))
        return
    names = [n.name for n in state.nodes]
    nodes = table(
        ["NODE", "ALIVE", "INGRESS", "ADMIN", "BUS"],
        [[n.name, "yes" if n.alive else "no", n.ingress_address, n.admin_address, n.bus_address] for n in state.nodes],
        title=f"Cluster {state.cluster_name}: nodes",
    )
    partitions = table(
        ["PARTITION", "REPLICAS", "LEADER", "EPOCH", "LAST LSN", *(f"LAG {name}" for name in names)],
        [
            [p.partition, ",".join(p.replicas) or "(not placed)", p.leader, p.epoch, p.last_lsn]
            + [p.lag(name) if name in p.replicas else "-" for name in names]
            for p in state.partitions
        ],
        title="Partitions",
    )
    show(nodes, partitions)


@app.command("move-leader")
def move_leader(
    partition: int = typer.Argument(..., help="The partition whose leadership moves"),
    to: str = typer.Option(..., "--to", help="The node that should lead it"),
    cluster_config: str | None = CLUSTER_CONFIG_OPTION,
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the new leader"),
) -> None:
    """Moves a partition's leadership to another node: the leader resigns, the node claims (epoch + 1)."""
    from restate.cluster.etcd_client import EtcdUnavailable
    from restate.cluster.status import move_leader as move

    cluster = _cluster(cluster_config)
    if not 0 <= partition < cluster.num_partitions:
        fail(f"partition {partition} does not exist (the cluster has {cluster.num_partitions})", EXIT_USAGE)
    if to not in cluster.nodes:
        fail(f"node {to!r} is not in the cluster file (known: {', '.join(sorted(cluster.nodes))})", EXIT_USAGE)
    try:
        outcome = asyncio.run(move(cluster, partition, to, timeout))
    except EtcdUnavailable as exc:
        fail(f"etcd did not answer ({', '.join(cluster.etcd_endpoints)}): {exc}", EXIT_UNREACHABLE)
    except (TimeoutError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"partition {partition} is led by {to} (epoch {outcome.epoch})")


@app.command("move-replica")
def move_replica(
    partition: int = typer.Argument(..., help="The partition whose replica moves"),
    source: str = typer.Option(..., "--from", help="The node whose replica goes (it may be dead)"),
    to: str = typer.Option(..., "--to", help="The live node that gets the replica"),
    cluster_config: str | None = CLUSTER_CONFIG_OPTION,
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for a hand-over of the leadership"),
) -> None:
    """Moves a partition's replica to another node (the placement in etcd): the new replica copies its
    shard from a caught-up replica and follows the log; the old one stops (leadership moves first)."""
    from restate.cluster.etcd_client import EtcdUnavailable
    from restate.cluster.replica_move import PlacementConflict
    from restate.cluster.replica_move import move_replica as move

    cluster = _cluster(cluster_config)
    if not 0 <= partition < cluster.num_partitions:
        fail(f"partition {partition} does not exist (the cluster has {cluster.num_partitions})", EXIT_USAGE)
    for node in (source, to):
        if node not in cluster.nodes:
            fail(f"node {node!r} is not in the cluster file (known: {', '.join(sorted(cluster.nodes))})", EXIT_USAGE)
    try:
        replicas = asyncio.run(move(cluster, partition, source, to, timeout))
    except EtcdUnavailable as exc:
        fail(f"etcd did not answer ({', '.join(cluster.etcd_endpoints)}): {exc}", EXIT_UNREACHABLE)
    except (TimeoutError, ValueError, PlacementConflict) as exc:
        fail(str(exc))
    typer.echo(f"partition {partition}: replicas {', '.join(replicas)} (moved from {source} to {to})")


def _cluster(cluster_config: str | None) -> ClusterConfig:
    from restate.cluster.cluster_config import load_cluster_config
    from restate.config import ConfigError

    path = cluster_config or os.environ.get("RESTATE_CLUSTER_CONFIG")
    if not path:
        fail("this command needs --cluster-config FILE (or RESTATE_CLUSTER_CONFIG)", EXIT_USAGE)
    try:
        return load_cluster_config(path, None)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
