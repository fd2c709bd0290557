"""`restate deployments register|list|describe|remove`: service deployments through the admin API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import typer

from cli.admin_client import Json
from cli.commands.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    JSON_OPTION,
    WIDE_OPTION,
    admin,
    check,
    escape,
    fail,
    print_json,
    properties,
    show,
    stdout,
    table,
    timestamp,
)
from restate.dashboard.columns import Column

app = typer.Typer(no_args_is_help=True, help="Register, list, describe and remove service deployments.")


def _headers(values: list[str]) -> dict[str, str] | None:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep:
            name, sep, content = value.partition("=")
        check(bool(sep and name.strip()), f"invalid header {value!r}: expected NAME: VALUE")
        headers[name.strip()] = content.strip()
    return headers or None


SERVICE_COLUMNS = (
    Column("service", ident=True), Column("type", ident=True), Column("revision", justify="right", drop=1),
    Column("handlers", justify="right", drop=2), Column("public", drop=3),
)  # fmt: skip
LIST_COLUMNS = (
    Column("id", ident=True), Column("endpoint", min_width=24), Column("protocol", ident=True, drop=3),
    Column("status", ident=True), Column("created", ident=True, drop=2), Column("services", keep_words=True, drop=1),
)  # fmt: skip


def _service_rows(services: list[Json]) -> list[list[Any]]:
    return [
        [s.get("name"), s.get("ty"), s.get("revision"), len(s.get("handlers", [])), s.get("public")] for s in services
    ]


def deployment_uri(uri: str) -> str:
    """The deployment's URL; without a scheme (`localhost:9080`) http is assumed, as the official CLI does.

    Raises ValueError when it is not an http(s) URL with a host (and a valid port, if any)."""
    text = uri.strip()
    if "://" not in text:
        text = "http://" + text
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"the scheme must be http or https, not {parsed.scheme!r}")
    if not parsed.hostname:
        raise ValueError("no host")
    try:
        parsed.port  # noqa: B018  # urlparse checks the port only when it is read
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from exc
    return text


@app.command()
def register(
    ctx: typer.Context,
    uri: str = typer.Argument(..., help="Base URL of the deployment, e.g. http://localhost:9080 (http if no scheme)"),
    header: list[str] = typer.Option([], "--header", "-H", help="Extra header NAME: VALUE (repeatable)"),
    use_http_11: bool = typer.Option(False, "--use-http1.1", help="Talk HTTP/1.1 (request/response) instead of h2c"),
    force: bool = typer.Option(False, "--force", help="Overwrite a deployment with the same URI (new revision)"),
    breaking: bool = typer.Option(False, "--breaking", help="Accept breaking changes to existing services"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Discover and validate, but register nothing"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Register a deployment: the server discovers its services and handlers."""
    try:
        uri = deployment_uri(uri)
    except ValueError as exc:
        fail(f"invalid URI {uri!r}: {exc}; expected [http(s)://]HOST[:PORT]", EXIT_USAGE)
    body = {
        "uri": uri,
        "additional_headers": _headers(header),
        "use_http_11": use_http_11,
        "breaking": breaking,
        "force": force,
        "dry_run": dry_run,
    }
    with admin(ctx) as client:
        status, result = client.register_deployment(body)
    if as_json:
        print_json(result)
        return
    if dry_run:
        verdict = "Dry run: would register"
    elif status == 201:
        verdict = "Registered"
    else:
        verdict = "Updated" if force else "Already registered (no changes made; use --force to re-discover)"
    show(
        f"{verdict} deployment [bold]{result.get('id')}[/bold] at {escape(uri)}",
        table(SERVICE_COLUMNS, _service_rows(result.get("services", [])), wide=wide),
        wide=wide,
    )


def _is_active(deployment_id: str, services: list[Json]) -> bool:
    return any(s.get("deployment_id") == deployment_id for s in services)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION) -> None:
    """List the registered deployments."""
    with admin(ctx) as client:
        services = client.list_services()
        deployments = client.list_deployments()
    if as_json:
        print_json(deployments)
        return
    rows = []
    for dep in deployments:
        names = "\n".join(f"{s.get('name')}@{s.get('revision')}" for s in dep.get("services", []))
        state = "active" if _is_active(dep.get("id", ""), services) else "superseded"
        endpoint = dep.get("uri") or dep.get("arn")
        rows.append([dep.get("id"), endpoint, dep.get("protocol_type"), state, timestamp(dep.get("created_at")), names])
    show(table(LIST_COLUMNS, rows, wide=wide), wide=wide)


@app.command()
def describe(
    ctx: typer.Context,
    deployment_id: str = typer.Argument(..., help="Deployment id (dp_...)"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Show a deployment and the services it serves."""
    with admin(ctx) as client:
        dep = client.get_deployment(deployment_id)
        services = client.list_services()
    if as_json:
        print_json(dep)
        return
    pairs = [
        ("id", dep.get("id")),
        ("endpoint", dep.get("uri") or dep.get("arn")),
        ("protocol", dep.get("protocol_type")),
        ("http version", dep.get("http_version")),
        ("status", "active" if _is_active(deployment_id, services) else "superseded"),
        ("created", timestamp(dep.get("created_at"))),
        ("sdk", dep.get("sdk_version")),
        ("protocol versions", f"{dep.get('min_protocol_version')}..{dep.get('max_protocol_version')}"),
    ]
    for name, value in (dep.get("additional_headers") or {}).items():
        pairs.append((f"header {name}", value))
    services_table = table(SERVICE_COLUMNS, _service_rows(dep.get("services", [])), wide=wide)
    show(properties(pairs), services_table, wide=wide)


@app.command()
def remove(
    ctx: typer.Context,
    deployment_id: str = typer.Argument(..., help="Deployment id (dp_...)"),
    force: bool = typer.Option(False, "--force", help="Remove even if it serves the latest revision of a service"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a deployment. Without --force it refuses while a service's latest revision lives there."""
    with admin(ctx) as client:
        client.get_deployment(deployment_id)
        serving = [s["name"] for s in client.list_services() if s.get("deployment_id") == deployment_id]
        if serving and not force:
            fail(
                f"deployment {deployment_id} still serves the latest revision of {', '.join(sorted(serving))}; "
                "register a new deployment for them first, or use --force",
                EXIT_FAILED,
            )
        client.delete_deployment(deployment_id)
    if as_json:
        print_json({"id": deployment_id, "removed": True, "services_left_without_deployment": serving})
        return
    stdout().print(f"Removed deployment [bold]{deployment_id}[/bold]")
    if serving:
        names = escape(", ".join(sorted(serving)))
        stdout().print(f"[yellow]These services have no deployment any more: {names}[/yellow]")
