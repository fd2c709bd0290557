"""The web UI against the real restate-server 1.7.12: the same views, built from its admin API and SQL alone.

The real admin API sends no CORS headers, so the UI is served from the same origin as the API by a small proxy
(tests/browser/proxy.py): our UI's files at /ui/, every other request forwarded to the real server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.proxy import UiProxy
from tests.browser.stack import UiStack, ui_stack

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiStack, UiProxy]]:
    with ui_stack("real", tmp_path_factory.mktemp("ui-real")) as stack:
        stack.seed()
        with UiProxy(stack.server.admin_url) as proxy:
            yield stack, proxy


def test_the_admin_api_of_the_real_server_has_no_cors(real: tuple[UiStack, UiProxy]) -> None:
    """Why the proxy: a preflight from another origin is refused, so a cross-origin page cannot call it."""
    stack, _ = real
    resp = stack.server.client.options(
        f"{stack.server.admin_url}/query",
        headers={"origin": "http://127.0.0.1:1", "access-control-request-method": "POST"},
    )
    assert resp.status_code == 405
    assert "access-control-allow-origin" not in resp.headers


def test_views_against_the_real_server(page: Any, real: tuple[UiStack, UiProxy]) -> None:
    stack, proxy = real
    ids = stack.ids
    page.goto(f"{proxy.url}/ui/overview")
    services = page.locator("#services")
    expect(services.locator("tr", has_text="Shop")).to_contain_text("Workflow")
    between_or_in_an_attempt = re.compile(r"(backing-off|running) 1")
    expect(services.locator("tr", has_text="Flaky")).to_contain_text(between_or_in_an_attempt)
    expect(page.locator("#failures")).to_contain_text(ids["retrying"])
    shot(page, "real-overview")

    page.goto(f"{proxy.url}/ui/invocations")
    for key in ("finished", "running", "retrying", "drift", "workflow", "leaf"):
        expect(page.locator(f"tr[data-id='{ids[key]}']")).to_be_visible()
    page.goto(f"{proxy.url}/ui/invocations?service=Hop")
    expect(page.locator("#app tbody tr")).to_have_count(3)

    page.goto(f"{proxy.url}/ui/invocations/{ids['finished']}")
    journal = page.locator("#journal")
    expect(journal).to_contain_text('{"label":"alpha","items":[1,2,3]}')
    # The real server stamps every entry: the sleep (10 ms) shows how long its wake-up took to come.
    waited = journal.locator("li.command", has_text="Sleep").locator("[data-waited]")
    expect(waited).to_contain_text(re.compile(r"result after \d+(ms|\.\ds|s)"))

    page.goto(f"{proxy.url}/ui/invocations/{ids['drift']}")
    debugger = page.locator("#debugger")
    expect(debugger).to_contain_text('failed at journal entry #1: Run "first"')
    expect(debugger.locator("#mismatch-diff [data-side=journal]")).to_have_text("first")
    expect(debugger.locator("#mismatch-diff [data-side=code]")).to_have_text("second")
    shot(page, "real-invocation-non-determinism")

    page.goto(f"{proxy.url}/ui/invocations/{ids['retrying']}")
    expect(page.locator("#debugger #failure-stack")).to_contain_text("Traceback")
    expect(page.locator("#actions [data-op=restart-as-new]")).to_be_visible()  # the real admin API has it
    # The real server records each failed attempt as a TransientError event (sys_journal_events).
    expect(page.locator("#earlier-errors")).to_contain_text("[500] Exception('flaky failure for f1')")
    expect(page.locator("#planned")).to_contain_text("Planned attempts: #")

    page.goto(f"{proxy.url}/ui/invocations/{ids['leaf']}")
    path = page.locator(f"#call-chain > li[data-chain-id='{ids['workflow']}']")
    for _ in range(3):
        path = path.locator("> ul > li", has_text="Hop/step").first
    expect(path).to_have_attribute("data-chain-id", ids["leaf"])

    page.goto(f"{proxy.url}/ui/node")
    expect(page.locator("#app .msg.error")).to_contain_text("no Prometheus metrics on its admin port")


def test_state_edit_against_the_real_server(page: Any, real: tuple[UiStack, UiProxy]) -> None:
    """The version the UI computes is the one the real server checks: a wrong one would drop the change."""
    stack, proxy = real
    page.goto(f"{proxy.url}/ui/state/Board/bob")
    entries = page.locator("#entries")
    expect(entries.locator("[data-entry-value=tags]")).to_contain_text('"x"')
    entries.locator("[data-edit=tags]").click()
    entries.locator("textarea").fill('["z"]')
    entries.locator("[data-save]").click()
    expect(entries.locator("[data-entry-value=tags]")).to_have_text(re.compile(r'\[\s*"z"\s*\]'))
    assert stack.call("Board/bob/get", "tags") == ["z"]
