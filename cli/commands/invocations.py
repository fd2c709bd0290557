"""`restate invocations list|describe|cancel|kill|purge|pause|resume`: by id, or in bulk by service/handler filter."""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum

import typer

from cli import journal
from cli.admin_client import AdminClient, ApiError, Json, sql_literal
from cli.commands.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    JSON_OPTION,
    WIDE_OPTION,
    admin,
    check,
    fail,
    print_json,
    properties,
    show,
    stderr,
    stdout,
    table,
    timestamp,
)
from restate.dashboard.columns import Column
from restate.ids import IdError, InvocationId

app = typer.Typer(no_args_is_help=True, help="List, inspect and manage invocations.")

BULK_LIMIT = 500  # like the official CLI: at most this many matches per command
PARALLEL = 16
# Which invocations each operation applies to (sys_invocation statuses, HTTP-API.md 3).
OP_FILTER = {
    "cancel": "status != 'completed'",
    "kill": "status != 'completed'",
    "purge": "status = 'completed'",
    "pause": "status IN ('ready', 'running', 'backing-off', 'suspended')",
    "resume": "status IN ('paused', 'ready', 'running', 'backing-off', 'suspended')",
}
DONE = {
    "cancel": "Cancellation requested for", "kill": "Killed", "purge": "Purged", "pause": "Paused", "resume": "Resumed",
}  # fmt: skip
# sys_invocation statuses (HTTP-API.md 3), in lifecycle order.
STATUSES = ("pending", "scheduled", "ready", "running", "backing-off", "suspended", "paused", "completed")
Status = Enum("Status", {name: name for name in STATUSES}, type=str)  # type: ignore[misc]  # --status choices
LIST_SQL_COLUMNS = "id, target, status, created_at, modified_at, retry_count, completion_result, last_failure"
LIST_COLUMNS = (
    Column("id", ident=True), Column("target", min_width=14), Column("status", ident=True),
    Column("created", ident=True, drop=1), Column("modified", ident=True, drop=4),
    Column("retries", justify="right", drop=3), Column("result / last failure", min_width=20, drop=2),
)  # fmt: skip
JOURNAL_SQL_COLUMNS = (
    "index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, promise_name, version, "
    "entry_json, appended_at"
)
# An awakeable id (44 characters) fits on a line of `details`: ids are never cut.
JOURNAL_COLUMNS = (
    Column("#", ident=True, justify="right"), Column("entry", keep_words=True), Column("details", min_width=46),
    Column("appended", ident=True, drop=1),
)  # fmt: skip
FAILURE_COLUMNS = (
    Column("id", ident=True), Column("target", min_width=10, drop=2), Column("status", ident=True, drop=1),
    Column("error", min_width=20),
)  # fmt: skip
# Service and handler names: no '/', no white space (the filter is split on '/'; keys may hold anything).
_NAME = re.compile(r"[^\s/]+")
DESCRIBE_FIELDS = (
    "id", "target", "status", "target_service_ty", "idempotency_key", "invoked_by", "invoked_by_id",
    "invoked_by_target", "pinned_deployment_id", "created_at", "modified_at", "scheduled_start_at", "running_at",
    "completed_at", "retry_count", "next_retry_at", "last_attempt_deployment_id", "last_failure",
    "last_failure_related_entry_name", "completion_result", "completion_failure", "journal_size", "trace_id",
)  # fmt: skip


def _check_id(text: str) -> str:
    try:
        InvocationId.parse(text)
    except IdError as exc:
        fail(f"invalid invocation id {text!r}: {exc}", EXIT_USAGE)
    return text


def target_filter(query: str) -> str:
    """`Service`, `Service/handler` or `Object/key/handler` as a WHERE clause on sys_invocation."""
    parts = query.split("/")
    names = [parts[0], parts[-1]] if len(parts) > 1 else parts
    valid = 1 <= len(parts) <= 3 and all(parts) and all(_NAME.fullmatch(name) for name in names)
    check(valid, f"invalid filter {query!r}: expected SERVICE[/HANDLER] or OBJECT/KEY/HANDLER")
    clauses = [f"target_service_name = {sql_literal(parts[0])}"]
    if len(parts) == 2:
        clauses.append(f"target_handler_name = {sql_literal(parts[1])}")
    elif len(parts) == 3:
        clauses.append(f"target_service_key = {sql_literal(parts[1])}")
        clauses.append(f"target_handler_name = {sql_literal(parts[2])}")
    return " AND ".join(clauses)


@app.command("list")
def list_(
    ctx: typer.Context,
    service: str | None = typer.Option(None, "--service", "-s", help="Only this service"),
    handler: str | None = typer.Option(None, "--handler", help="Only this handler"),
    key: str | None = typer.Option(None, "--key", "-k", help="Only this virtual object / workflow key"),
    status: Status | None = typer.Option(None, "--status", case_sensitive=False, help="Only invocations in it"),
    include_completed: bool = typer.Option(False, "--all", "-a", help="Include completed invocations"),
    limit: int = typer.Option(100, "--limit", min=1, max=10000, help="At most this many"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """List invocations, newest first (not completed ones, unless --all or --status completed)."""
    clauses = []
    for column, value in (("target_service_name", service), ("target_handler_name", handler),
                          ("target_service_key", key), ("status", status and status.value)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = {sql_literal(value)}")
    if not include_completed and status is None:
        clauses.append("status != 'completed'")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {LIST_SQL_COLUMNS} FROM sys_invocation{where} ORDER BY created_at DESC LIMIT {limit}"
    with admin(ctx) as client:
        rows = client.query(sql)
    if as_json:
        print_json(rows)
        return
    lines = [
        [r.get("id"), r.get("target"), r.get("status"), timestamp(r.get("created_at")),
         timestamp(r.get("modified_at")), r.get("retry_count"), _failure_line(r)]
        for r in rows
    ]  # fmt: skip
    show(table(LIST_COLUMNS, lines, wide=wide), wide=wide)
    stderr().print(f"{len(rows)} invocation(s)" + (f" (limit {limit} reached)" if len(rows) == limit else ""))


def _failure_line(row: Json) -> str | None:
    if row.get("completion_result"):
        return str(row["completion_result"])
    failure = row.get("last_failure")
    return journal.short(str(failure).splitlines()[0], 200) if failure else None


@app.command()
def describe(
    ctx: typer.Context,
    invocation_id: str = typer.Argument(..., help="Invocation id (inv_...)"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Show an invocation and its journal: calls and their callees, sleeps, state, promises, values."""
    _check_id(invocation_id)
    literal = sql_literal(invocation_id)
    with admin(ctx) as client:
        rows = client.query(f"SELECT * FROM sys_invocation WHERE id = {literal}")
        if not rows:
            fail(f"no invocation {invocation_id}", EXIT_FAILED)
        sql = f"SELECT {JOURNAL_SQL_COLUMNS} FROM sys_journal WHERE id = {literal} ORDER BY index LIMIT 1000"
        entries = journal.decode(client.query(sql))
    if as_json:
        print_json({"invocation": rows[0], "journal": [e.as_json() for e in entries]})
        return
    row = rows[0]
    pairs = [(k, timestamp(row[k]) if k.endswith("_at") else row[k]) for k in DESCRIBE_FIELDS if k in row]
    now = datetime.now(UTC)
    lines = [[e.index, e.entry_type, journal.details(e, now), timestamp(e.appended_at)] for e in entries]
    journal_table = table(JOURNAL_COLUMNS, lines, "Journal", wide=wide)
    show(properties(pairs, title="Invocation"), journal_table, wide=wide)


# --- operations ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    id: str
    target: str | None
    ok: bool
    status: int | None
    error: str | None = None


def _apply(client: AdminClient, op: str, target: tuple[str, str | None]) -> Outcome:
    invocation_id, name = target
    try:
        status = client.invocation_op(invocation_id, op)
    except ApiError as exc:
        return Outcome(invocation_id, name, False, exc.status, exc.message)
    return Outcome(invocation_id, name, True, status)


def parse_targets(queries: list[str]) -> list[tuple[str, str | None]]:
    """Each query as (invocation id, None) or (None, WHERE clause); exits 2 on the first malformed one."""
    parsed: list[tuple[str, str | None]] = []
    for query in queries:
        if query.startswith("inv_"):
            parsed.append((_check_id(query), None))
        else:
            parsed.append((query, target_filter(query)))
    return parsed


def _select(client: AdminClient, op: str, queries: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Ids as given, plus the invocations matching service/handler filters that `op` applies to."""
    targets: dict[str, str | None] = {}
    for query, where in queries:
        if where is None:
            targets[query] = None
            continue
        sql = f"SELECT id, target FROM sys_invocation WHERE ({where}) AND {OP_FILTER[op]} LIMIT {BULK_LIMIT}"
        for row in client.query(sql):
            targets[str(row["id"])] = row.get("target")
    return list(targets.items())


def _run(client: AdminClient, op: str, targets: list[tuple[str, str | None]], progress: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn(f"{op}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=stderr(), transient=True, disable=not progress) as bar:
        task = bar.add_task(op, total=len(targets))
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            futures = [pool.submit(_apply, client, op, target) for target in targets]
            for future in as_completed(futures):
                outcomes.append(future.result())
                bar.advance(task)
    order = {target[0]: i for i, target in enumerate(targets)}
    return sorted(outcomes, key=lambda o: order[o.id])


def operate(ctx: typer.Context, op: str, queries: list[str], yes: bool, as_json: bool) -> None:
    """Selects the invocations, confirms a bulk operation on a terminal, runs it with a progress bar."""
    parsed = parse_targets(queries)  # every target checked before the first request: bad input exits 2
    with admin(ctx) as client:
        targets = _select(client, op, parsed)
        if not targets:
            fail(f"no invocation to {op} matches {' '.join(queries)}", EXIT_FAILED)
        bulk = len(targets) > 1
        if bulk and not yes and sys.stdin.isatty() and not as_json:
            typer.confirm(f"{op} {len(targets)} invocations?", abort=True)
        outcomes = _run(client, op, targets, progress=bulk and stderr().is_terminal)
    failed = [o for o in outcomes if not o.ok]
    if as_json:
        print_json([asdict(o) for o in outcomes])
    else:
        stdout().print(f"{DONE[op]} {len(outcomes) - len(failed)} of {len(outcomes)} invocation(s)")
        if failed:
            show(table(FAILURE_COLUMNS, [[o.id, o.target, o.status, o.error] for o in failed]))
    if failed:
        raise typer.Exit(EXIT_FAILED)


_QUERIES = typer.Argument(..., help="Invocation ids, or filters SERVICE, SERVICE/HANDLER, OBJECT/KEY/HANDLER")
_YES = typer.Option(False, "--yes", "-y", help="Do not ask before a bulk operation")


@app.command()
def cancel(ctx: typer.Context, queries: list[str] = _QUERIES, yes: bool = _YES, as_json: bool = JSON_OPTION) -> None:
    """Cancel invocations (gracefully: the handler sees a cancellation and can compensate)."""
    operate(ctx, "cancel", queries, yes, as_json)


@app.command()
def kill(ctx: typer.Context, queries: list[str] = _QUERIES, yes: bool = _YES, as_json: bool = JSON_OPTION) -> None:
    """Kill invocations (immediately, without running compensations)."""
    operate(ctx, "kill", queries, yes, as_json)


@app.command()
def purge(ctx: typer.Context, queries: list[str] = _QUERIES, yes: bool = _YES, as_json: bool = JSON_OPTION) -> None:
    """Purge completed invocations (forget their results and journals)."""
    operate(ctx, "purge", queries, yes, as_json)


@app.command()
def pause(ctx: typer.Context, queries: list[str] = _QUERIES, yes: bool = _YES, as_json: bool = JSON_OPTION) -> None:
    """Pause running, retrying or suspended invocations."""
    operate(ctx, "pause", queries, yes, as_json)


@app.command()
def resume(ctx: typer.Context, queries: list[str] = _QUERIES, yes: bool = _YES, as_json: bool = JSON_OPTION) -> None:
    """Resume paused invocations."""
    operate(ctx, "resume", queries, yes, as_json)
