"""`restate whoami` and `restate --version`: which server the CLI talks to, and which CLI this is."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from cli.commands.common import JSON_OPTION, admin, print_json, properties, settings, show, stdout

CLI_NAME = "restate-cli-py"


def cli_version() -> str:
    """This CLI's version: the installed `restate` distribution's."""
    try:
        return version("restate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def print_version(value: bool) -> None:
    """The eager `--version` option: prints `restate-cli-py X.Y.Z` and exits."""
    if value:
        typer.echo(f"{CLI_NAME} {cli_version()}")
        raise typer.Exit()


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def whoami(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The admin and ingress URLs, the server's version and health, and this CLI's version."""
    admin_url = _slash(settings(ctx).admin_url)
    with admin(ctx) as client:
        info = client.version()
        client.health()
    about = {
        "admin_url": admin_url,
        "ingress_url": info.get("ingress_endpoint"),
        "server_version": info.get("version"),
        "admin_api_versions": [info.get("min_admin_api_version"), info.get("max_admin_api_version")],
        "cli_version": f"{CLI_NAME} {cli_version()}",
        "healthy": True,
    }
    if as_json:
        print_json(about)
        return
    low, high = about["admin_api_versions"]
    pairs = [
        ("Admin base URL", admin_url),
        ("Ingress base URL", about["ingress_url"]),
        ("Server version", about["server_version"]),
        ("Admin API", f"v{low}..v{high}" if low is not None else None),
        ("CLI version", about["cli_version"]),
    ]
    show(properties(pairs))
    stdout().print(f"[OK]: Admin Service '{admin_url}' is healthy!", markup=False, highlight=False, soft_wrap=True)
