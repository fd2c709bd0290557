"""`restate subscriptions list|describe|create|delete|parked|replay|drop`: Kafka subscriptions (admin API)."""

from __future__ import annotations

import typer

from cli.admin_client import Json
from cli.commands.common import EXIT_USAGE, JSON_OPTION, WIDE_OPTION, admin, fail, print_json, properties, show, table
from restate.dashboard.columns import Column

app = typer.Typer(no_args_is_help=True, help="Kafka subscriptions: topic records become handler invocations.")

LIST_COLUMNS = (
    Column("id", ident=True), Column("source", ident=True), Column("sink", ident=True),
    Column("options", justify="right", drop=1),
)  # fmt: skip


def key_values(pairs: list[str], what: str) -> dict[str, str]:
    """`KEY=VALUE` arguments (librdkafka options); exits with a usage error on anything else."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"invalid {what} {pair!r}: expected KEY=VALUE", EXIT_USAGE)
        found[key.strip()] = value.strip()
    return found


def _cluster_of(source: str) -> str:
    return source.removeprefix("kafka://").split("/", 1)[0]


def options_table(options: Json) -> object:
    return table(("key", "value"), sorted((options or {}).items()))


@app.command("list")
def list_(
    ctx: typer.Context,
    sink: str | None = typer.Option(None, "--sink", help="Only subscriptions to this sink (service://S/H)"),
    source: str | None = typer.Option(None, "--source", help="Only subscriptions of this source (kafka://C/T)"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """List the subscriptions (the server filters by exact sink and source)."""
    with admin(ctx) as client:
        subs = client.list_subscriptions(sink, source)
    if as_json:
        print_json(subs)
        return
    rows = [[s.get("id"), s.get("source"), s.get("sink"), len(s.get("options") or {})] for s in subs]
    show(table(LIST_COLUMNS, sorted(rows, key=lambda r: str(r[0])), wide=wide), wide=wide)


@app.command()
def describe(
    ctx: typer.Context,
    subscription_id: str = typer.Argument(..., help="Subscription id (sub_...)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a subscription, its cluster's brokers and its options."""
    with admin(ctx) as client:
        sub = client.get_subscription(subscription_id)
        try:
            cluster = client.get_kafka_cluster(_cluster_of(sub.get("source", "")))
        except Exception:  # an orphan: its cluster was force-deleted
            cluster = {}
    if as_json:
        print_json(sub)
        return
    props = cluster.get("properties") or {}
    brokers = props.get("bootstrap.servers") or props.get("metadata.broker.list")
    pairs = [
        ("ID", sub.get("id")),
        ("Source", sub.get("source")),
        ("Sink", sub.get("sink")),
        ("Kafka brokers", brokers),
    ]
    show(properties(pairs, title="Subscription:"), options_table(sub.get("options")))


def read_definition(path: str, text: str) -> dict[str, object]:
    """A subscription file, as the official CLI reads `--from-file`: `.properties`/`.conf` (or `-`) are flat
    `key=value` librdkafka properties with `source` and `sink` among them; anything else is TOML with
    `source`, `sink` and an `[options]` table. Raises ValueError with the reason."""
    if path == "-" or path.endswith((".properties", ".conf")):
        pairs = {}
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "!")):
                continue
            key, sep, value = stripped.partition("=")
            if not sep:
                raise ValueError(f"line {number}: expected key=value, got {stripped!r}")
            pairs[key.strip()] = value.strip()
        source, sink = pairs.pop("source", None), pairs.pop("sink", None)
        return {"source": source, "sink": sink, "options": pairs}
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ValueError("`options` must be a table")
    return {"source": data.get("source"), "sink": data.get("sink"), "options": {k: str(v) for k, v in options.items()}}


@app.command()
def create(
    ctx: typer.Context,
    source: str | None = typer.Argument(None, help="kafka://CLUSTER/TOPIC"),
    sink: str | None = typer.Argument(None, help="service://SERVICE/HANDLER"),
    options: list[str] = typer.Argument(None, help="librdkafka options KEY=VALUE, e.g. auto.offset.reset=earliest"),
    from_file: str | None = typer.Option(None, "--from-file", help="A .properties/.conf (or - for stdin) or TOML file"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Subscribe a handler to a Kafka topic."""
    if from_file is not None:
        import sys
        from pathlib import Path

        try:
            text = sys.stdin.read() if from_file == "-" else Path(from_file).read_text()
            body = read_definition(from_file, text)
        except (OSError, ValueError) as exc:
            fail(f"cannot read {from_file}: {exc}", EXIT_USAGE)
        for key, value in (("source", source), ("sink", sink)):
            if value is not None:
                body[key] = value
    else:
        body = {"source": source, "sink": sink, "options": key_values(options or [], "option")}
    if not body.get("source") or not body.get("sink"):
        fail("a subscription needs a source (kafka://CLUSTER/TOPIC) and a sink (service://SERVICE/HANDLER)", EXIT_USAGE)
    with admin(ctx) as client:
        created = client.create_subscription(body)
    if as_json:
        print_json(created)
        return
    show(f"[OK]: Subscription {created.get('id')} created")


@app.command()
def delete(
    ctx: typer.Context,
    subscription_id: str = typer.Argument(..., help="Subscription id (sub_...)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a subscription: its consumer stops (the group's committed offsets stay on the broker)."""
    with admin(ctx) as client:
        client.get_subscription(subscription_id)
        client.delete_subscription(subscription_id)
    if as_json:
        print_json({"id": subscription_id, "deleted": True})
        return
    show(f"[OK]: Subscription {subscription_id} deleted")


PARKED_COLUMNS = (
    Column("partition", justify="right"), Column("offset", justify="right"), Column("key (base64)", drop=2),
    Column("parked at", ident=True, drop=1), Column("reason"),
)  # fmt: skip


@app.command()
def parked(
    ctx: typer.Context,
    subscription_id: str = typer.Argument(..., help="Subscription id (sub_...)"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """List the records the subscription parked (they could not become invocations, e.g. a key not UTF-8)."""
    with admin(ctx) as client:
        records = client.list_parked(subscription_id)
    if as_json:
        print_json(records)
        return
    rows = [[r.get("partition"), r.get("offset"), r.get("key_base64"), r.get("parked_at"), r.get("reason")]
            for r in records]  # fmt: skip
    show(table(PARKED_COLUMNS, rows, wide=wide), wide=wide)


@app.command()
def replay(
    ctx: typer.Context,
    subscription_id: str = typer.Argument(..., help="Subscription id (sub_...)"),
    partition: int = typer.Argument(..., help="The parked record's topic partition"),
    offset: int = typer.Argument(..., help="The parked record's offset"),
    key: str | None = typer.Option(None, "--key", help="The object key to use (default: the record's key, lossy)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Turn a parked record into an invocation of the subscription's sink; it is no longer parked."""
    with admin(ctx) as client:
        result = client.replay_parked(subscription_id, partition, offset, key)
    if as_json:
        print_json(result)
        return
    show(f"[OK]: Replayed partition {partition} offset {offset} as {result.get('invocation_id')}")


@app.command()
def drop(
    ctx: typer.Context,
    subscription_id: str = typer.Argument(..., help="Subscription id (sub_...)"),
    partition: int = typer.Argument(..., help="The parked record's topic partition"),
    offset: int = typer.Argument(..., help="The parked record's offset"),
) -> None:
    """Drop a parked record: it will never be invoked."""
    with admin(ctx) as client:
        client.drop_parked(subscription_id, partition, offset)
    show(f"[OK]: Dropped partition {partition} offset {offset}")
