"""Opt-in profiling of a server process: RESTATE_PROFILE=1 runs it under cProfile, dumped on a clean stop."""

from __future__ import annotations

import cProfile
import os
import time
from collections.abc import Callable
from pathlib import Path


def run_profiled(name: str, base_dir: str, main: Callable[[], None]) -> None:
    """Runs `main`; with RESTATE_PROFILE set, writes `<base_dir>/profiles/<name>.prof` when it returns."""
    if not os.environ.get("RESTATE_PROFILE"):
        main()
        return
    profiler = cProfile.Profile(time.process_time)  # CPU time: unaffected by other load on the machine
    try:
        profiler.runcall(main)
    finally:
        out = Path(base_dir) / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out / f"{name}.prof")
