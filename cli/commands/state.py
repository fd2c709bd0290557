"""`restate state get|clear`: the state of one virtual object / workflow key (SQL to read, admin API to clear)."""

from __future__ import annotations

import json

import typer

from cli.admin_client import AdminClient, ApiError, sql_literal, state_version
from cli.commands.common import (
    EXIT_FAILED,
    JSON_OPTION,
    WIDE_OPTION,
    admin,
    check,
    fail,
    print_json,
    show,
    stdout,
    table,
    warn,
)
from cli.journal import decode_value as decode
from restate.dashboard.columns import Column

app = typer.Typer(no_args_is_help=True, help="Read or clear the state of a virtual object or workflow key.")

KEYED = ("VirtualObject", "Workflow")
STATE_COLUMNS = (Column("key", keep_words=True), Column("value", min_width=20))


def split_target(service: str, key: str | None) -> tuple[str, str]:
    """`SERVICE KEY` or `SERVICE/KEY` (the key may itself contain '/')."""
    if key is None:
        name, sep, rest = service.partition("/")
        check(bool(sep and name), f"invalid target {service!r}: expected SERVICE KEY or SERVICE/KEY")
        return name, rest
    return service, key


def check_keyed(client: AdminClient, service: str) -> None:
    svc = client.get_service(service)
    if svc.get("ty") not in KEYED:
        fail(f"{service} is a {svc.get('ty')}: only virtual objects and workflows have state", EXIT_FAILED)


def read_state(client: AdminClient, service: str, key: str) -> dict[str, bytes]:
    """The stored entries of one key (`state` table; values come back as hex)."""
    sql = (
        "SELECT key, value FROM state "
        f"WHERE service_name = {sql_literal(service)} AND service_key = {sql_literal(key)} ORDER BY key"
    )
    entries: dict[str, bytes] = {}
    for row in client.query(sql):
        raw = row.get("value") or ""
        try:
            entries[str(row["key"])] = bytes.fromhex(raw)
        except ValueError:
            entries[str(row["key"])] = str(raw).encode()
    return entries


@app.command()
def get(
    ctx: typer.Context,
    service: str = typer.Argument(..., help="Virtual object or workflow name (or SERVICE/KEY)"),
    key: str | None = typer.Argument(None, help="The object / workflow key"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Show every state entry of one key."""
    service, key = split_target(service, key)
    with admin(ctx) as client:
        check_keyed(client, service)
        entries = read_state(client, service, key)
    values = {name: decode(raw) for name, raw in entries.items()}
    if as_json:
        print_json(values)
        return
    rows = [[name, json.dumps(value) if not isinstance(value, str) else value] for name, value in values.items()]
    show(table(STATE_COLUMNS, rows, title=f"{service}/{key}", wide=wide), wide=wide)


@app.command()
def clear(
    ctx: typer.Context,
    service: str = typer.Argument(..., help="Virtual object or workflow name (or SERVICE/KEY)"),
    key: str | None = typer.Argument(None, help="The object / workflow key"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete every state entry of one key (applied after the invocations running on it)."""
    service, key = split_target(service, key)
    with admin(ctx) as client:
        check_keyed(client, service)
        version: str | None
        try:
            entries = read_state(client, service, key)
            version = state_version(entries)
        except ApiError as exc:
            if exc.status != 404:
                raise
            warn("this server has no SQL /query: clearing without a version check")
            entries, version = {}, None
        if entries and not yes and not as_json and typer.get_text_stream("stdin").isatty():
            typer.confirm(f"Clear {len(entries)} entries of {service}/{key}?", abort=True)
        client.replace_state(service, key, {}, version)
    if as_json:
        print_json({"service": service, "key": key, "cleared": sorted(entries), "version": version})
        return
    if version is None:
        stdout().print(f"Cleared the state of {service}/{key}", markup=False)
    else:
        count = f"{len(entries)} state entr{'y' if len(entries) == 1 else 'ies'}"
        stdout().print(f"Cleared {count} of {service}/{key}", markup=False)
