"""`restate services list|describe|status|config view|config patch` through the admin API (status uses SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli.admin_client import Json, sql_literal
from cli.commands.common import (
    JSON_OPTION,
    WIDE_OPTION,
    admin,
    check,
    note_hidden,
    parse_or_usage,
    print_json,
    properties,
    show,
    stdout,
    table,
)
from restate.dashboard.columns import Column
from restate.durations import parse_duration_ns

if TYPE_CHECKING:
    from restate.dashboard.fit_table import FitTable

app = typer.Typer(no_args_is_help=True, help="Inspect services and change their settings.")
config_app = typer.Typer(no_args_is_help=True, help="View or change a service's settings.")
app.add_typer(config_app, name="config")

CONFIG_FIELDS = (
    "public", "idempotency_retention", "workflow_completion_retention", "journal_retention",
    "inactivity_timeout", "abort_timeout", "enable_lazy_state",
)  # fmt: skip
# sys_invocation statuses, in the order a status table shows them.
STATUSES = ("pending", "scheduled", "ready", "running", "backing-off", "suspended", "paused")
LIST_COLUMNS = (
    Column("name", ident=True), Column("type", ident=True), Column("revision", justify="right", drop=2),
    Column("handlers", justify="right", drop=3), Column("public", drop=4), Column("deployment", ident=True, drop=1),
)  # fmt: skip
HANDLER_COLUMNS = (
    Column("handler", ident=True), Column("type", ident=True, drop=2), Column("input", min_width=10),
    Column("output", min_width=10), Column("public", drop=1),
)  # fmt: skip
STATUS_KEYS = (Column("service", ident=True), Column("handler", ident=True))
# Narrower than a column per status: the total and the statuses that have invocations.
STATUS_COMPACT = (*STATUS_KEYS, Column("not completed", justify="right"), Column("by status", min_width=13))


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION) -> None:
    """List the registered services."""
    with admin(ctx) as client:
        services = client.list_services()
    if as_json:
        print_json(services)
        return
    rows = [
        [
            s.get("name"),
            s.get("ty"),
            s.get("revision"),
            len(s.get("handlers", [])),
            s.get("public"),
            s.get("deployment_id"),
        ]
        for s in sorted(services, key=lambda s: str(s.get("name")))
    ]
    show(table(LIST_COLUMNS, rows, wide=wide), wide=wide)


def _handler_rows(service: Json) -> list[list[Any]]:
    handlers = sorted(service.get("handlers", []), key=lambda h: str(h.get("name")))
    return [
        [h.get("name"), h.get("ty", ""), h.get("input_description"), h.get("output_description"), h.get("public")]
        for h in handlers
    ]


@app.command()
def describe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Service name"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Show a service, its handlers and the deployment serving it."""
    with admin(ctx) as client:
        service = client.get_service(name)
        deployment = client.get_deployment(service["deployment_id"]) if service.get("deployment_id") else {}
    if as_json:
        print_json({"service": service, "deployment": deployment})
        return
    pairs = [
        ("name", service.get("name")),
        ("type", service.get("ty")),
        ("revision", service.get("revision")),
        ("public", service.get("public")),
        ("deployment", service.get("deployment_id")),
        ("endpoint", deployment.get("uri") or deployment.get("arn")),
        ("protocol", deployment.get("protocol_type")),
    ]
    show(properties(pairs), table(HANDLER_COLUMNS, _handler_rows(service), wide=wide), wide=wide)


@app.command()
def status(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Only this service"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Invocations that are not completed, per handler and status (SQL on sys_invocation)."""
    where = "status != 'completed'"
    if name:
        where += f" AND target_service_name = {sql_literal(name)}"
    sql = (
        "SELECT target_service_name, target_handler_name, status, COUNT(*) AS count FROM sys_invocation "
        f"WHERE {where} GROUP BY target_service_name, target_handler_name, status"
    )
    with admin(ctx) as client:
        services = [client.get_service(name)] if name else client.list_services()
        rows = client.query(sql)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for service in services:
        for handler in service.get("handlers", []):
            counts[(service["name"], handler["name"])] = {}
    for row in rows:
        key = (str(row.get("target_service_name")), str(row.get("target_handler_name")))
        counts.setdefault(key, {})[str(row.get("status"))] = int(row.get("count", 0))
    if as_json:
        print_json([{"service": s, "handler": h, "statuses": c} for (s, h), c in sorted(counts.items())])
        return
    status_table = _status_table(counts, wide)
    show(status_table, wide=wide)
    if status_table.columns == list(STATUS_COMPACT):
        note_hidden(stdout().width, "a column per status")


def _status_order(item: tuple[str, int]) -> tuple[int, str]:
    return (STATUSES.index(item[0]) if item[0] in STATUSES else len(STATUSES), item[0])


def _status_table(counts: dict[tuple[str, str], dict[str, int]], wide: bool) -> FitTable:
    """A column per status when they fit (or with --wide); else a total and the statuses that have some."""
    columns = (*STATUS_KEYS, *(Column(st, justify="right", drop=1) for st in STATUSES))
    lines = [[s, h, *(c.get(st, 0) for st in STATUSES)] for (s, h), c in sorted(counts.items())]
    full = table(columns, lines, wide=wide)
    if wide or not full.hidden(stdout().width):
        return full
    compact = [
        [s, h, sum(c.values()), ", ".join(f"{st} {n}" for st, n in sorted(c.items(), key=_status_order) if n)]
        for (s, h), c in sorted(counts.items())
    ]
    return table(STATUS_COMPACT, compact)


@config_app.command("view")
def config_view(
    ctx: typer.Context, name: str = typer.Argument(..., help="Service name"), as_json: bool = JSON_OPTION
) -> None:
    """Show a service's settings (retention, timeouts, visibility, retry policy)."""
    with admin(ctx) as client:
        service = client.get_service(name)
    config = {k: service[k] for k in (*CONFIG_FIELDS, "retry_policy") if k in service}
    if as_json:
        print_json(config)
        return
    pairs = [(k, v) for k, v in config.items() if k != "retry_policy"]
    for key, value in (config.get("retry_policy") or {}).items():
        pairs.append((f"retry_policy.{key}", value))
    show(properties(pairs, title=f"{name} settings"))


def _duration(value: str | None, option: str) -> str | None:
    if value is not None:
        parse_or_usage(parse_duration_ns, value, f"{option} duration")
    return value


@config_app.command("patch")
def config_patch(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Service name"),
    public: bool | None = typer.Option(None, "--public/--private", help="Reachable through the ingress or not"),
    idempotency_retention: str | None = typer.Option(None, help="e.g. 1d, 3h"),
    workflow_completion_retention: str | None = typer.Option(None, help="Workflows only"),
    journal_retention: str | None = typer.Option(None, help="e.g. 1d"),
    inactivity_timeout: str | None = typer.Option(None, help="e.g. 1m"),
    abort_timeout: str | None = typer.Option(None, help="e.g. 10m"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a service's settings; options left out stay as they are."""
    body = {
        "public": public,
        "idempotency_retention": _duration(idempotency_retention, "--idempotency-retention"),
        "workflow_completion_retention": _duration(workflow_completion_retention, "--workflow-completion-retention"),
        "journal_retention": _duration(journal_retention, "--journal-retention"),
        "inactivity_timeout": _duration(inactivity_timeout, "--inactivity-timeout"),
        "abort_timeout": _duration(abort_timeout, "--abort-timeout"),
    }
    check(any(v is not None for v in body.values()), "nothing to change: give at least one setting option")
    with admin(ctx) as client:
        service = client.patch_service(name, body)
    config = {k: service[k] for k in CONFIG_FIELDS if k in service}
    if as_json:
        print_json(config)
        return
    changed = {k for k, v in body.items() if v is not None}
    pairs = [(f"{k} (changed)" if k in changed else k, v) for k, v in config.items()]
    show(properties(pairs, title=f"{name} settings"))
