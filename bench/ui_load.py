"""Page load time of the web UI's invocations view with many invocations stored (`python -m bench.ui_load`).

Starts a server (ours, or `--server real` behind the same-origin proxy of tests/browser), registers
tests/services/ui.py, runs `--invocations` calls of `Noop/ping` (`--concurrency` at a time), then opens
`/ui/invocations` in Debian's headless Chromium `--loads` times and prints, per load, the milliseconds from
navigation start until the list's first page of rows and the counts are drawn (and how long its SQL requests
took), and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, VIEWPORT
from tests.browser.proxy import UiProxy
from tests.browser.stack import ui_stack


async def _fill(ingress_url: str, total: int, concurrency: int) -> float:
    """Runs `total` Noop/ping calls; returns the seconds it took. Bounded: each call times out after 60 s."""
    started = time.monotonic()
    queue = iter(range(total))
    async with httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            for n in queue:
                resp = await client.post(f"{ingress_url}/Noop/ping", json=n)
                resp.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


def _measure(url: str, loads: int, rows: int) -> list[tuple[float, list[float]]]:
    """Per load: ms until the rows and counts are drawn, and the durations of its `POST /query` requests."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        for _ in range(loads):
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(url)
            drawn_rows = f"document.querySelectorAll('#app tbody tr[data-id]').length >= {rows}"
            page.wait_for_function(drawn_rows, timeout=120_000)
            page.wait_for_selector("#counts .badge")
            drawn = page.evaluate("performance.now()")
            queries = page.evaluate(
                "performance.getEntriesByType('resource').filter(e => e.name.endsWith('/query')).map(e => e.duration)"
            )
            out.append((drawn, queries))
            context.close()
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", choices=("ours", "real"), default="ours")
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ui-load-") as tmp, ExitStack() as stack:
        ui = stack.enter_context(ui_stack(args.server, Path(tmp)))
        seconds = asyncio.run(_fill(ui.server.ingress_url, args.invocations, args.concurrency))
        stored = ui.sql("SELECT COUNT(*) AS n FROM sys_invocation")[0]["n"]
        print(f"{args.server}: {stored} invocations stored ({args.invocations} calls in {seconds:.1f} s)", flush=True)
        base = ui.server.admin_url if args.server == "ours" else stack.enter_context(UiProxy(ui.server.admin_url)).url
        loads = _measure(f"{base}/ui/invocations", args.loads, min(200, stored))
        times = [drawn for drawn, _ in loads]
        print("load times (ms):", ", ".join(f"{t:.0f}" for t in times))
        print("their SQL requests (ms):", "; ".join(", ".join(f"{q:.0f}" for q in queries) for _, queries in loads))
        print(f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
