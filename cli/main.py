"""The `restate` command line: `restate up` runs the server; the other commands operate it via the admin API."""

from __future__ import annotations

import logging
import sys

import typer

from cli.admin_client import DEFAULT_ADMIN_URL
from cli.commands import (
    cluster,
    dashboard,
    deployments,
    invocations,
    kafka_clusters,
    services,
    sql,
    state,
    subscriptions,
    whoami,
)
from cli.commands.common import Settings
from restate.config import ConfigError, load

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A Restate-compatible durable execution server.")


@app.callback()
def main(
    ctx: typer.Context,
    admin_url: str = typer.Option(
        DEFAULT_ADMIN_URL, "--admin-url", envvar="RESTATE_ADMIN_URL", help="Admin API of the server to operate"
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=whoami.print_version, help="Print the CLI's version and exit"
    ),
) -> None:
    """Restate in Python: run the server, operate it."""
    ctx.obj = Settings(admin_url=admin_url)


@app.command()
def up(
    base_dir: str | None = typer.Option(None, "--base-dir", help="Data directory (env RESTATE_BASE_DIR)"),
    ingress_bind_address: str | None = typer.Option(
        None, "--ingress-bind-address", help="HOST:PORT of the ingress (env RESTATE_INGRESS__BIND_ADDRESS)"
    ),
    admin_bind_address: str | None = typer.Option(
        None, "--admin-bind-address", help="HOST:PORT of the admin API (env RESTATE_ADMIN__BIND_ADDRESS)"
    ),
    partitions: int | None = typer.Option(
        None, "--partitions", help="Partition count of a new data directory (env RESTATE_DEFAULT_NUM_PARTITIONS)"
    ),
    config_file: str | None = typer.Option(None, "--config-file", help="TOML config file (env RESTATE_CONFIG)"),
    node_metrics_bind_address: str | None = typer.Option(
        None, "--node-metrics-bind-address", help="HOST:PORT serving /metrics, '' for none (env RESTATE_BIND_ADDRESS)"
    ),
    tracing_endpoint: str | None = typer.Option(
        None,
        "--tracing-endpoint",
        help="OTLP endpoint for invocation spans: http://HOST:4317 (gRPC) or otlp+http://HOST:4318/v1/traces "
        "(env RESTATE_TRACING_ENDPOINT)",
    ),
    dashboard: bool | None = typer.Option(
        None, "--dashboard/--no-dashboard", help="Show the live dashboard (default: when stdout is a terminal)"
    ),
    node_name: str | None = typer.Option(None, "--node-name", help="Cluster mode: this node (env RESTATE_NODE_NAME)"),
    cluster_config: str | None = typer.Option(
        None, "--cluster-config", help="Cluster mode: the cluster's TOML file (env RESTATE_CLUSTER_CONFIG)"
    ),
) -> None:
    """Start the server: admin, ingress and the partition processes."""
    from restate.actors import supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    overrides = {
        "base_dir": base_dir,
        "ingress_bind_address": ingress_bind_address,
        "admin_bind_address": admin_bind_address,
        "default_num_partitions": partitions,
        "node_metrics_bind_address": node_metrics_bind_address,
        "tracing_endpoint": tracing_endpoint,
        "node_name": node_name,
        "cluster_config": cluster_config,
    }
    try:
        config = load(config_file, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        supervisor.run(config, dashboard=sys.stdout.isatty() if dashboard is None else dashboard)
    except supervisor.StartupError as exc:  # a busy port, a data directory in use: nothing was started
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


app.add_typer(cluster.app, name="cluster")
app.add_typer(deployments.app, name="deployments")
app.add_typer(services.app, name="services")
app.add_typer(invocations.app, name="invocations")
app.add_typer(state.app, name="state")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(subscriptions.app, name="sub", hidden=True)  # the official CLI's alias
app.add_typer(kafka_clusters.app, name="kafka-clusters")
app.add_typer(kafka_clusters.app, name="kc", hidden=True)
app.command("sql")(sql.sql)
app.command("dashboard")(dashboard.dashboard)
app.command("whoami")(whoami.whoami)


if __name__ == "__main__":
    app()
