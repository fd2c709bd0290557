"""Renders a dashboard View as rich renderables: a header, the partition table with totals, the ingress line."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from restate.dashboard.model import Row, View

_LIVENESS_STYLE = {"up": "green", "down": "bold red", "stalled": "yellow", "starting": "cyan"}
COLUMNS = (
    "partition", "pid", "live", "running", "suspended", "inboxed", "scheduled", "timers",
    "cmd/s", "batch", "fsync p50", "fsync p99", "attempts", "failures", "deployments",
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


def partition_table(view: View) -> Table:
    """One row per partition, then the totals."""
    table = Table(header_style="bold")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("partition", "live") else "right", no_wrap=True)
    for row in view.rows:
        table.add_row(*_cells(row))
    table.add_section()
    table.add_row(*_cells(view.totals), style="bold")
    return table


def _header(view: View) -> Text:
    text = Text("restate", style="bold magenta")
    if view.source:
        text.append(f"  {view.source}")
    text.append(f"  partitions {len(view.rows)}")
    if view.deployments_registered is not None:
        text.append(f"  deployments registered {view.deployments_registered}")
    for name, running in sorted(view.processes.items()):
        text.append(f"  {name} ")
        text.append("up" if running else "down", style="green" if running else "bold red")
    return text


def _ingress(view: View) -> Text:
    text = Text("ingress ", style="bold")
    if view.ingress_rps is None or view.ingress_errors_rps is None:
        text.append("- req/s (measuring)")
        return text
    text.append(f"{_rate(view.ingress_rps)} req/s")
    share = view.ingress_errors_rps / view.ingress_rps if view.ingress_rps > 0 else 0.0
    style = "red" if view.ingress_errors_rps > 0 else ""
    text.append(f"   errors {_rate(view.ingress_errors_rps)} req/s ({share:.1%})", style=style)
    text.append(f"   rates over the last {view.window_s:.1f}s", style="dim")
    return text


def render(view: View) -> RenderableType:
    """The whole frame."""
    parts: list[RenderableType] = [_header(view), partition_table(view), _ingress(view)]
    if view.note:
        parts.append(Text(view.note, style="yellow"))
    return Group(*parts)
