"""Browser tests of the web UI: Debian's Chromium driven by Playwright (never a downloaded browser).

Screenshots go to tests/artifacts/ui/ (git-ignored); `make ui-screenshots` copies the main ones to docs/ui/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import UiStack, ui_stack
from tests.support import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "ui"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: while Playwright's sync API is open it marks an event
    loop as running in this thread, and every later test that calls asyncio.run() would fail."""
    if not CHROMIUM.is_file():  # no skip: `make setup` installs it, so a missing browser is a broken set-up
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any uncaught script error on it fails the test."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under tests/artifacts/ui/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    """Our server with tests/services/ui.py registered and its known invocations seeded."""
    with ui_stack("ours", tmp_path_factory.mktemp("ui-ours")) as stack:
        stack.seed()
        yield stack
