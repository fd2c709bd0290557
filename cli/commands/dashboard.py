"""`restate dashboard`: the live view of a running server, from its admin API (`/metrics`, `/deployments`)."""

from __future__ import annotations

import dataclasses

import typer

from cli.commands.common import EXIT_UNREACHABLE, JSON_OPTION, WIDE_OPTION, fail, print_json, settings, show, stdout


def dashboard(
    ctx: typer.Context,
    refresh: float = typer.Option(1.0, "--refresh", min=0.1, help="Seconds between redraws"),
    once: bool = typer.Option(False, "--once", help="Print one frame (rates over --interval) and exit"),
    interval: float = typer.Option(1.0, "--interval", min=0.1, help="With --once: seconds between the two scrapes"),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
) -> None:
    """Partitions (liveness, invocations, timers, commits, fsync latency, invoker), totals and ingress rates.

    The table shows the columns that fit the terminal (80 when piped); --wide shows every column."""
    from restate.dashboard.live import SourceError, run_live, snapshot
    from restate.dashboard.render import frame

    admin_url = settings(ctx).admin_url
    if once or as_json:
        try:
            view = snapshot(admin_url, interval)
        except SourceError as exc:
            fail(str(exc), EXIT_UNREACHABLE)
        if as_json:
            print_json(dataclasses.asdict(view))
        else:
            show(*frame(view, wide), wide=wide)
        return
    try:
        run_live(admin_url, stdout(), refresh, wide=wide)
    except KeyboardInterrupt:
        pass
