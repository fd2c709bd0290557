"""`restate cluster status`: nodes, partitions, leaders, epochs and replica lag, read from etcd.

Unlike the other commands it asks etcd, not a node's admin API: it works while nodes are down, which is
when it is needed (the cluster file names the etcd endpoints)."""

from __future__ import annotations

import asyncio
import os

import msgspec
import typer

from cli.commands.common import EXIT_UNREACHABLE, EXIT_USAGE, JSON_OPTION, fail, print_json, show, table

app = typer.Typer(help="Cluster mode: the state of the nodes and partitions (from etcd).", no_args_is_help=True)

CLUSTER_CONFIG_OPTION = typer.Option(
    None, "--cluster-config", help="The cluster's TOML file (env RESTATE_CLUSTER_CONFIG)"
)


@app.command("status")
def status(cluster_config: str | None = CLUSTER_CONFIG_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Nodes (alive or not), and per partition its leader, epoch, last log entry and each replica's lag."""
    from restate.cluster.cluster_config import load_cluster_config
    from restate.cluster.etcd_client import EtcdUnavailable
    from restate.cluster.status import read_status
    from restate.config import ConfigError

    path = cluster_config or os.environ.get("RESTATE_CLUSTER_CONFIG")
    if not path:
        fail("restate cluster status needs --cluster-config FILE (or RESTATE_CLUSTER_CONFIG)", EXIT_USAGE)
    try:
        cluster = load_cluster_config(path, None)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
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
        ["PARTITION", "LEADER", "EPOCH", "LAST LSN", *(f"LAG {name}" for name in names)],
        [[p.partition, p.leader, p.epoch, p.last_lsn, *(p.lag(name) for name in names)] for p in state.partitions],
        title="Partitions",
    )
    show(nodes, partitions)
