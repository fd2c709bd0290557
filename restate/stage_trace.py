"""Opt-in stage timestamps of the request path (RESTATE_STAGE_TRACE=<dir>, bench.latency_stages); off: a flag test."""

from __future__ import annotations

import os
import time
from typing import TextIO

ENV = "RESTATE_STAGE_TRACE"
_directory = os.environ.get(ENV, "")
#: Read at every call site before `mark` (a module attribute test costs ~20 ns when tracing is off).
ENABLED = bool(_directory)
_file: TextIO | None = None
_pid = 0


def mark(stage: str) -> None:
    """Appends `<CLOCK_MONOTONIC ns> <stage>` to this process's file in the trace directory (the clock is
    the same in every process of the machine, so the files of all processes merge into one timeline)."""
    global _file, _pid
    pid = os.getpid()
    if _file is None or _pid != pid:  # opened lazily, and again in a forked child
        os.makedirs(_directory, exist_ok=True)
        _file = open(os.path.join(_directory, f"stages.{pid}"), "a", buffering=1)  # noqa: SIM115 - lives with the process
        _pid = pid
    _file.write(f"{time.monotonic_ns()} {stage}\n")
