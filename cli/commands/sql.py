"""`restate sql QUERY`: runs SQL on the server's introspection tables (`POST /query`) and prints the rows."""

from __future__ import annotations

import re

import typer

from cli.admin_client import Json
from cli.commands.common import JSON_OPTION, WIDE_OPTION, admin, check, print_json, show, stderr, table
from restate.dashboard.columns import Column

# An id (inv_1..., dp_1..., sign_1..., prom_1...) or an RFC 3339 timestamp: a column of them is never wrapped.
_IDENT = re.compile(r"[a-z]+_1[0-9A-Za-z_-]{20,}|\d{4}-\d\d-\d\dT[0-9:.]+Z?")


def columns_of(rows: list[dict[str, Json]]) -> list[str]:
    """Every column in order of first appearance (null columns are absent from a JSON row)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def sql_columns(names: list[str], rows: list[dict[str, Json]]) -> list[Column]:
    """Columns in the query's order; the first always shows, then they give way from the right."""
    columns = []
    for position, name in enumerate(names):
        values = [row[name] for row in rows if row.get(name) is not None]
        ident = bool(values) and all(_IDENT.fullmatch(str(v)) for v in values)
        numeric = bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        columns.append(Column(name, ident=ident, drop=position, justify="right" if numeric else "left"))
    return columns


def _cell(value: Json) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sql(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='e.g. "SELECT id, status FROM sys_invocation LIMIT 10"'),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Run a SQL query on the server's tables (sys_invocation, sys_journal, state, sys_inbox, ...)."""
    check(bool(query.strip()), "the query is empty")
    with admin(ctx) as client:
        rows = client.query(query)
    if as_json:
        print_json(rows)
        return
    names = columns_of(rows)
    show(
        table(sql_columns(names, rows), [[_cell(row.get(name)) for name in names] for row in rows], wide=wide),
        wide=wide,
    )
    stderr().print(f"{len(rows)} row(s)")
