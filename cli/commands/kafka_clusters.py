"""`restate kafka-clusters list|describe|create|patch|delete`: Kafka clusters through the admin API."""

from __future__ import annotations

import typer

from cli.commands.common import JSON_OPTION, WIDE_OPTION, admin, print_json, properties, show, table
from cli.commands.subscriptions import LIST_COLUMNS, key_values
from restate.dashboard.columns import Column

app = typer.Typer(no_args_is_help=True, help="Kafka clusters the subscriptions read from.")

COLUMNS = (
    Column("name", ident=True), Column("brokers", ident=True), Column("properties", justify="right", drop=1),
    Column("created-at", ident=True, drop=2),
)  # fmt: skip


def _brokers(props: dict[str, str]) -> str | None:
    return props.get("bootstrap.servers") or props.get("metadata.broker.list")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION) -> None:
    """List the clusters: registered ones, then those of the configuration file."""
    with admin(ctx) as client:
        clusters = client.list_kafka_clusters()
    if as_json:
        print_json(clusters)
        return
    rows = []
    for c in clusters:
        props = c.get("properties") or {}
        rows.append([c.get("name"), _brokers(props), len(props), c.get("created_at")])
    show(table(COLUMNS, rows, wide=wide), wide=wide)


@app.command()
def describe(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Show a cluster, its properties (secrets masked by the server) and its subscriptions."""
    with admin(ctx) as client:
        cluster = client.get_kafka_cluster(name, include_subscriptions=True)
    if as_json:
        print_json(cluster)
        return
    props = cluster.get("properties") or {}
    subs = cluster.get("subscriptions") or []
    pairs = [("Name", cluster.get("name")), ("Brokers", _brokers(props)), ("Properties", len(props)),
             ("Subscriptions", len(subs)), ("Created at", cluster.get("created_at"))]  # fmt: skip
    sub_rows = [[s.get("id"), s.get("source"), s.get("sink"), len(s.get("options") or {})] for s in subs]
    show(properties(pairs), table(("key", "value"), sorted(props.items())), table(LIST_COLUMNS, sub_rows))


@app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The name used in kafka://NAME/TOPIC"),
    props: list[str] = typer.Argument(..., help="librdkafka properties KEY=VALUE (bootstrap.servers=HOST:PORT)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a Kafka cluster."""
    with admin(ctx) as client:
        created = client.create_kafka_cluster({"name": name, "properties": key_values(props, "property")})
    if as_json:
        print_json(created)
        return
    show(f"[OK]: Kafka cluster {created.get('name')} created")


@app.command()
def patch(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    props: list[str] = typer.Argument(..., help="The new properties KEY=VALUE (they replace the old ones)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace a registered cluster's properties (its consumers restart)."""
    with admin(ctx) as client:
        updated = client.patch_kafka_cluster(name, key_values(props, "property"))
    if as_json:
        print_json(updated)
        return
    show(f"[OK]: Kafka cluster {name} updated")


@app.command()
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    force: bool = typer.Option(False, "--force", help="Delete even if subscriptions use it (they stay, orphaned)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a registered cluster."""
    with admin(ctx) as client:
        client.delete_kafka_cluster(name, force)
    if as_json:
        print_json({"name": name, "deleted": True})
        return
    show(f"[OK]: Kafka cluster {name} deleted")
