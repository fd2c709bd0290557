"""Renders a dashboard View as rich renderables: a header, the partition table with totals, the ingress line.

The partition table fits the width it is drawn at (restate/dashboard/fit_table.py): at 80 columns it keeps
partition, liveness, running, suspended, commands/s, fsync p99 and failures; `wide` shows every column.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from restate.dashboard import kafka_line
from restate.dashboard.columns import Column
from restate.dashboard.fit_table import FitTable
from restate.dashboard.model import Row, View

_LIVENESS_STYLE = {"up": "green", "down": "bold red", "stalled": "yellow", "starting": "cyan"}


def _number(header: str, drop: int) -> Column:
    return Column(header, ident=True, justify="right", drop=drop)


# `drop`: which columns give way first at narrow widths (the highest first).
COLUMNS = (
    Column("partition", ident=True), _number("pid", 12), Column("live", ident=True), _number("running", 0),
    _number("suspended", 1), _number("inboxed", 5), _number("scheduled", 6), _number("timers", 8),
    _number("cmd/s", 2), _number("batch", 9), _number("fsync p50", 10), _number("fsync p99", 4),
    _number("attempts", 7), _number("failures", 3), _number("deployments", 11),
)  # fmt: skip


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}ms" if value < 10 else f"{value:.0f}ms"


def _cells(row: Row) -> list[str | Text]:
    name = "total" if row.partition is None else f"p{row.partition}"
    live = Text(row.liveness, style=_LIVENESS_STYLE.get(row.liveness, ""))
    failures = Text(_count(row.failures), style="red" if row.failures else "")
    return [
        name,
        "" if row.pid is None else str(row.pid),
        live,
        _count(row.running),
        _count(row.suspended),
        _count(row.inboxed),
        _count(row.scheduled),
        _count(row.timers),
        _rate(row.commands_per_s),
        "-" if row.batch_size is None else f"{row.batch_size:.1f}",
        _ms(row.fsync_p50_ms),
        _ms(row.fsync_p99_ms),
        _count(row.attempts),
        failures,
        str(row.deployments),
    ]


# Cluster mode: the node leading each partition, after the partition (given way to after `cmd/s`).
NODE_COLUMN = Column("node", ident=True, drop=2)


def partition_table(view: View, wide: bool = False) -> FitTable:
    """One row per partition, then the totals; in cluster mode (a leader known) the node column too."""
    cluster = any(row.leader is not None for row in view.rows)
    table = FitTable((COLUMNS[0], NODE_COLUMN, *COLUMNS[1:]) if cluster else COLUMNS, wide=wide)
    for i, row in enumerate(view.rows):
        cells = _cells(row)
        if cluster:
            cells.insert(1, row.leader or "-")
        table.add_row(*cells, end_section=i == len(view.rows) - 1)
    totals = _cells(view.totals)
    if cluster:
        totals.insert(1, "")
    table.add_row(*totals, style="bold")
    return table


class Line:
    """Pieces of text on one line, separated by `gap`; where the width ends, the next piece starts a new line
    (a piece such as `admin up` is never split)."""

    def __init__(self, pieces: list[Text], gap: str = "  ") -> None:
        self.pieces = pieces
        self.gap = gap

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = Text()
        for piece in self.pieces:
            if line and line.cell_len + len(self.gap) + piece.cell_len > options.max_width:
                yield line
                line = Text()
            if line:
                line.append(self.gap)
            line.append_text(piece)
        yield line

    def __str__(self) -> str:
        return self.gap.join(piece.plain for piece in self.pieces)


def _header(view: View) -> Line:
    pieces = [Text("restate", style="bold magenta")]
    if view.source:
        pieces.append(Text(view.source))
    pieces.append(Text(f"partitions {len(view.rows)}"))
    if view.deployments_registered is not None:
        pieces.append(Text(f"deployments registered {view.deployments_registered}"))
    for name, running in sorted(view.processes.items()):
        piece = Text(f"{name} ")
        piece.append("up" if running else "down", style="green" if running else "bold red")
        pieces.append(piece)
    return Line(pieces)


def _ingress(view: View) -> Line:
    if view.ingress_rps is None or view.ingress_errors_rps is None:
        return Line([Text.assemble(("ingress ", "bold"), "- req/s (measuring)")])
    share = view.ingress_errors_rps / view.ingress_rps if view.ingress_rps > 0 else 0.0
    style = "red" if view.ingress_errors_rps > 0 else ""
    return Line(
        [
            Text.assemble(("ingress ", "bold"), f"{_rate(view.ingress_rps)} req/s"),
            Text(f"errors {_rate(view.ingress_errors_rps)} req/s ({share:.1%})", style=style),
            Text(f"rates over the last {view.window_s:.1f}s", style="dim"),
        ],
        gap="   ",
    )


def frame(view: View, wide: bool = False) -> list[RenderableType]:
    """The frame's parts: header, partition table (the columns that fit; all when `wide`), ingress, note."""
    parts: list[RenderableType] = [_header(view), partition_table(view, wide), _ingress(view)]
    parts.extend(kafka_line.lines(view.kafka))
    if view.note:
        parts.append(Text(view.note, style="yellow"))
    return parts


def render(view: View, wide: bool = False) -> RenderableType:
    """The whole frame, as one renderable."""
    return Group(*frame(view, wide))
