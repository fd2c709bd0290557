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
from restate.dashboard.columns import Column

if TYPE_CHECKING:  # rich is imported when something is printed: `restate up` (and its children) never need it
    from rich.console import Console
    from rich.table import Table

    from restate.dashboard.fit_table import FitTable

# Exit codes (README "Operating"): typer's usage errors are 2 as well.
EXIT_OK = 0
EXIT_FAILED = 1  # the server answered with an error, or an operation did not succeed
EXIT_USAGE = 2  # the input is wrong (detected before asking the server)
EXIT_UNREACHABLE = 3  # no answer from the admin API

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables (for scripts)")
WIDE_OPTION = typer.Option(
    False, "--wide", "-w", help="Show every column, however wide (default: the columns that fit the terminal)"
)


@dataclass
class Settings:
    """Options of the root command, shared by every sub-command."""

    admin_url: str = DEFAULT_ADMIN_URL


def settings(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def stdout(width: int | None = None) -> Console:
    """A console on the current stdout (created per call so test runners can capture it).

    Its width is the terminal's, else COLUMNS, else 80 (a pipe): tables choose their columns for it."""
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=False, width=width)


def stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, soft_wrap=False)


def escape(text: str) -> str:
    """`text` with rich markup escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Prints `error: message` on stderr and exits with `code`."""
    # soft_wrap: a message is one line for the terminal to wrap, not cut at 80 columns in a log or pipe
    stderr().print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


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


def table(
    columns: Sequence[Column | str], rows: Iterable[Sequence[Any]], title: str | None = None, wide: bool = False
) -> FitTable:
    """A table that shows the columns fitting the console it is printed on (all of them when `wide`).

    A plain string is a column that wraps and is always shown; None cells print as '-'."""
    from restate.dashboard.fit_table import FitTable

    result = FitTable([c if isinstance(c, Column) else Column(c) for c in columns], title=title, wide=wide)
    result.add_rows(rows)
    return result


def properties(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column key/value table: keys whole, values wrapped."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    result.add_column(style="bold", no_wrap=True)
    result.add_column(overflow="fold")
    for key, value in pairs:
        result.add_row(Text(key), Text("-" if value is None or value == "" else str(value)))
    return result


def show(*renderables: Any, wide: bool = False) -> None:
    """Prints tables and text on stdout; notes on stderr the columns a narrow console left out.

    With `wide` the console is made as wide as the widest table, so every column shows unwrapped."""
    from restate.dashboard.fit_table import FitTable

    console = stdout()
    tables = [r for r in renderables if isinstance(r, FitTable)]
    if wide and tables:
        console = stdout(max(console.width, *(t.natural_width() for t in tables)))
    for renderable in renderables:
        console.print(renderable)
    hidden = list(dict.fromkeys(h for t in tables for h in t.hidden(console.width)))
    if hidden:
        note_hidden(console.width, ", ".join(hidden))


def note_hidden(width: int, what: str) -> None:
    """Tells on stderr what a narrow console left out of the tables, and how to see it."""
    sys.stdout.flush()  # the note comes after the tables on a terminal showing both streams
    message = f"not shown at {width} columns: {what} (--wide shows every column)"
    stderr().print(message, style="dim", markup=False, highlight=False, soft_wrap=True)


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
