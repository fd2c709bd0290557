"""Shared pytest configuration.

On a failing test, the tails of relevant child-process logs (servers, services) are attached
to the report: every process still alive plus every log written since the test started.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

from tests.support.procs import registered_logs, tail

LOG_TAIL_LINES = 60
_STARTED = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_STARTED] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    started = item.stash.get(_STARTED, 0.0)
    for info in registered_logs():
        try:
            recent = info.log_path_mtime() >= started
        except FileNotFoundError:
            continue
        if info.process.alive() or recent:
            report.sections.append((f"log tail: {info.name} ({info.path})", tail(info.path, LOG_TAIL_LINES)))
