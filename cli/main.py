"""The `restate` command line: `restate up` runs the server."""

from __future__ import annotations

import logging

import typer

from restate.config import ConfigError, load

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A Restate-compatible durable execution server.")


@app.callback()
def main() -> None:
    """Restate in Python: run the server, operate it."""


@app.command()
def up(
    base_dir: str | None = typer.Option(None, "--base-dir", help="Data directory [env RESTATE_BASE_DIR]"),
    ingress_bind_address: str | None = typer.Option(
        None, "--ingress-bind-address", help="HOST:PORT of the ingress [env RESTATE_INGRESS__BIND_ADDRESS]"
    ),
    admin_bind_address: str | None = typer.Option(
        None, "--admin-bind-address", help="HOST:PORT of the admin API [env RESTATE_ADMIN__BIND_ADDRESS]"
    ),
    partitions: int | None = typer.Option(
        None, "--partitions", help="Partition count of a new data directory [env RESTATE_DEFAULT_NUM_PARTITIONS]"
    ),
    config_file: str | None = typer.Option(None, "--config-file", help="TOML config file [env RESTATE_CONFIG]"),
) -> None:
    """Start the server: admin, ingress and the partition processes."""
    from restate.actors import supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    overrides = {
        "base_dir": base_dir,
        "ingress_bind_address": ingress_bind_address,
        "admin_bind_address": admin_bind_address,
        "default_num_partitions": partitions,
    }
    try:
        config = load(config_file, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    supervisor.run(config)


if __name__ == "__main__":
    app()
