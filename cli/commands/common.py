"""What every command shares: the admin client from the root options, output (tables or JSON), exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from cli.admin_client import DEFAULT_ADMIN_URL, AdminClient, ApiError, Unreachable

if TYPE_CHECKING:  # rich is imported when something is printed: `restate up` (and its children) never need it
    from rich.console import Console
    from rich.table import Table

# Exit codes (README "Operating"): typer's usage errors are 2 as well.
EXIT_OK = 0
EXIT_FAILED = 1  # the server answered with an error, or an operation did not succeed
EXIT_USAGE = 2  # the input is wrong (detected before asking the server)
EXIT_UNREACHABLE = 3  # no answer from the admin API

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables (for scripts)")


@dataclass
class Settings:
    """Options of the root command, shared by every sub-command."""

    admin_url: str = DEFAULT_ADMIN_URL


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def stdout() -> Console:
    """A console on the current stdout (created per call so test runners can capture it)."""
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=False)


def stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, soft_wrap=False)


def escape(text: str) -> str:
    """`text` with rich markup escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Prints `error: message` on stderr and exits with `code`."""
    stderr().print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


@contextmanager
def admin(ctx: typer.Context) -> Iterator[AdminClient]:
    """The admin client; translates its errors into a message and an exit code."""
    client = AdminClient(settings(ctx).admin_url)
    try:
        yield client
    except Unreachable as exc:
        fail(f"{exc}\nIs the server running? Set the address with --admin-url or RESTATE_ADMIN_URL.", EXIT_UNREACHABLE)
    except ApiError as exc:
        fail(f"the admin API answered {exc}")
    finally:
        client.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A rich table; None cells print as '-'."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(Text("-" if cell is None else str(cell)) for cell in row))
    return result


def properties(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column key/value table."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    result.add_column(style="bold")
    result.add_column(overflow="fold")
    for key, value in pairs:
        result.add_row(Text(key), Text("-" if value is None or value == "" else str(value)))
    return result


def show(*renderables: Any) -> None:
    console = stdout()
    for renderable in renderables:
        console.print(renderable)


def timestamp(value: Any) -> str | None:
    """An RFC 3339 timestamp from /query, shortened to the second."""
    if not isinstance(value, str):
        return None
    return value.replace("T", " ")[:19]


def check(condition: bool, message: str) -> None:
    """Exits with EXIT_USAGE when the input is wrong."""
    if not condition:
        fail(message, EXIT_USAGE)


def parse_or_usage(parse: Callable[[str], Any], value: str, what: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        fail(f"invalid {what} {value!r}: {exc}", EXIT_USAGE)
