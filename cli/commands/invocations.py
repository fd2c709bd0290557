"""`restate invocations list|describe|cancel|kill|purge|pause|resume`: by id, or in bulk by service/handler filter."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import typer

from cli.admin_client import AdminClient, ApiError, Json, sql_literal
from cli.commands.common import (
    EXIT_FAILED,
    JSON_OPTION,
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
LIST_COLUMNS = "id, target, status, created_at, modified_at, retry_count, completion_result, last_failure"
DESCRIBE_FIELDS = (
    "id", "target", "status", "target_service_ty", "idempotency_key", "invoked_by", "invoked_by_id",
    "invoked_by_target", "pinned_deployment_id", "created_at", "modified_at", "scheduled_start_at", "running_at",
    "completed_at", "retry_count", "next_retry_at", "last_attempt_deployment_id", "last_failure",
    "last_failure_related_entry_name", "completion_result", "completion_failure", "journal_size",
)  # fmt: skip


def _check_id(text: str) -> str:
    try:
        InvocationId.parse(text)
    except IdError as exc:
        fail(f"invalid invocation id {text!r}: {exc}", 2)
    return text


def target_filter(query: str) -> str:
    """`Service`, `Service/handler` or `Object/key/handler` as a WHERE clause on sys_invocation."""
    parts = query.split("/")
    valid = 1 <= len(parts) <= 3 and all(parts)
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
    status: str | None = typer.Option(None, "--status", help="pending, scheduled, ready, running, backing-off, ..."),
    include_completed: bool = typer.Option(False, "--all", "-a", help="Include completed invocations"),
    limit: int = typer.Option(100, "--limit", min=1, max=10000, help="At most this many"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List invocations, newest first (not completed ones, unless --all or --status completed)."""
    clauses = []
    for column, value in (("target_service_name", service), ("target_handler_name", handler),
                          ("target_service_key", key), ("status", status)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = {sql_literal(value)}")
    if not include_completed and status is None:
        clauses.append("status != 'completed'")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {LIST_COLUMNS} FROM sys_invocation{where} ORDER BY created_at DESC LIMIT {limit}"
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
    show(table(["id", "target", "status", "created", "modified", "retries", "result / last failure"], lines))
    stderr().print(f"{len(rows)} invocation(s)" + (f" (limit {limit} reached)" if len(rows) == limit else ""))


def _failure_line(row: Json) -> str | None:
    if row.get("completion_result"):
        return str(row["completion_result"])
    failure = row.get("last_failure")
    return str(failure).splitlines()[0][:80] if failure else None


@app.command()
def describe(
    ctx: typer.Context,
    invocation_id: str = typer.Argument(..., help="Invocation id (inv_...)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show an invocation and its journal."""
    _check_id(invocation_id)
    literal = sql_literal(invocation_id)
    with admin(ctx) as client:
        rows = client.query(f"SELECT * FROM sys_invocation WHERE id = {literal}")
        if not rows:
            fail(f"no invocation {invocation_id}", EXIT_FAILED)
        journal = client.query(f"SELECT * FROM sys_journal WHERE id = {literal} ORDER BY index LIMIT 1000")
    if as_json:
        print_json({"invocation": rows[0], "journal": journal})
        return
    row = rows[0]
    pairs = [(k, timestamp(row[k]) if k.endswith("_at") else row[k]) for k in DESCRIBE_FIELDS if k in row]
    entries = [
        [e.get("index"), e.get("entry_type"), e.get("name"), e.get("completed"), timestamp(e.get("appended_at"))]
        for e in journal
    ]
    journal_table = table(["#", "entry", "name", "completed", "appended"], entries, "Journal")
    show(properties(pairs, title="Invocation"), journal_table)


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


def _select(client: AdminClient, op: str, queries: list[str]) -> list[tuple[str, str | None]]:
    """Ids as given, plus the invocations matching service/handler filters that `op` applies to."""
    targets: dict[str, str | None] = {}
    for query in queries:
        if query.startswith("inv_"):
            targets[_check_id(query)] = None
            continue
        where = f"({target_filter(query)}) AND {OP_FILTER[op]}"
        sql = f"SELECT id, target FROM sys_invocation WHERE {where} LIMIT {BULK_LIMIT}"
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
    with admin(ctx) as client:
        targets = _select(client, op, queries)
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
            show(table(["id", "target", "status", "error"], [[o.id, o.target, o.status, o.error] for o in failed]))
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
