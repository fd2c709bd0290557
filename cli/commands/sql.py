"""`restate sql QUERY`: runs SQL on the server's introspection tables (`POST /query`) and prints the rows."""

from __future__ import annotations

import typer

from cli.admin_client import Json
from cli.commands.common import JSON_OPTION, admin, check, print_json, show, stderr, table


def columns_of(rows: list[dict[str, Json]]) -> list[str]:
    """Every column in order of first appearance (null columns are absent from a JSON row)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


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
) -> None:
    """Run a SQL query on the server's tables (sys_invocation, sys_journal, state, sys_inbox, ...)."""
    check(bool(query.strip()), "the query is empty")
    with admin(ctx) as client:
        rows = client.query(query)
    if as_json:
        print_json(rows)
        return
    names = columns_of(rows)
    show(table(names, [[_cell(row.get(name)) for name in names] for row in rows]))
    stderr().print(f"{len(rows)} row(s)")
