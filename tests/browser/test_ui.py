"""The web UI in headless Chromium against our server with known invocations: every view, and actions checked
through the API (cancel, bulk cancel, state edit and delete)."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.stack import UiStack, wait_for
from tests.support import free_port

expect.set_options(timeout=20_000)


def open_ui(page: Any, stack: UiStack, path: str) -> None:
    page.goto(f"{stack.server.admin_url}/ui/{path}")


def test_root_redirects_to_the_overview(page: Any, ours: UiStack) -> None:
    page.goto(f"{ours.server.admin_url}/")
    assert page.url == f"{ours.server.admin_url}/ui/"
    expect(page.locator("h1")).to_have_text("Overview")


def test_overview_lists_services_counts_failures_and_deployments(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "overview")
    services = page.locator("#services")
    for name in ("Board", "Hop", "Shop", "Steps", "Flaky", "Drift", "Waiter"):
        expect(services.locator(f"[data-service='{name}']")).to_be_visible()
    expect(services.locator("tr", has_text="Shop")).to_contain_text("Workflow")
    expect(services.locator("tr", has_text="Steps")).to_contain_text(re.compile(r"succeeded \d+"))
    between_or_in_an_attempt = re.compile(r"(backing-off|running) 1")
    expect(services.locator("tr", has_text="Flaky")).to_contain_text(between_or_in_an_attempt)
    expect(page.locator("#failures")).to_contain_text(ours.ids["retrying"])
    expect(page.locator("#failures")).to_contain_text("flaky failure for f1")
    expect(page.locator("#deployments")).to_contain_text(ours.service.url)
    expect(page.locator("#app")).not_to_contain_text("null")
    shot(page, "overview")
    # Live: an invocation made while the page is open appears in its counts without a reload.
    expect(services.locator("tr", has_text="Noop")).to_contain_text("none")
    ours.call("Noop/ping", 7)
    expect(services.locator("tr", has_text="Noop")).to_contain_text("succeeded 1")


def test_register_form_shows_the_servers_answer(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "overview")
    form = page.locator("#register")
    form.locator("input[name=uri]").fill(f"http://127.0.0.1:{free_port()}/")
    form.locator("button[type=submit]").click()
    expect(form.locator(".msg.error")).to_contain_text("Registration failed")
    form.locator("input[name=uri]").fill(ours.service.url)
    form.locator("button[type=submit]").click()
    expect(form.locator(".msg.ok")).to_contain_text("Registered dp_")


def test_invocations_list_filters_and_counts(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "invocations")
    rows = page.locator("#app tbody tr")
    for key in ("finished", "running", "retrying", "drift", "workflow", "leaf"):
        expect(page.locator(f"tr[data-id='{ours.ids[key]}']")).to_be_visible()
    expect(page.locator("[data-count=all]")).to_contain_text(re.compile(r"all \d+"))
    expect(page.locator("#app")).not_to_contain_text("null")  # no absent value drawn as text
    shot(page, "invocations")
    page.locator("select[name=service]").select_option("Flaky")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("backing-off")
    assert "service=Flaky" in page.url
    expect(page.locator("[data-count=backing-off]")).to_have_text("backing-off 1")
    page.goto(f"{ours.server.admin_url}/ui/invocations?service=Hop&handler=step")
    expect(rows).to_have_count(3)
    page.goto(f"{ours.server.admin_url}/ui/invocations?service=Steps&key=nobody")
    expect(page.locator("#app .msg.empty")).to_have_text("No invocations match this filter.")
    # Deployment and time range (created_at) filters.
    deployment = ours.invocation(ours.ids["finished"])["pinned_deployment_id"]
    page.goto(f"{ours.server.admin_url}/ui/invocations?service=Steps&deployment={deployment}")
    expect(page.locator(f"tr[data-id='{ours.ids['finished']}']")).to_be_visible()
    page.goto(f"{ours.server.admin_url}/ui/invocations?deployment=dp_11111111111111111111111")
    expect(page.locator("#app .msg.empty")).to_have_text("No invocations match this filter.")
    created = ours.invocation(ours.ids["workflow"])["created_at"]
    page.goto(f"{ours.server.admin_url}/ui/invocations?service=Shop&since={created}")
    expect(rows).to_have_count(1)
    page.goto(f"{ours.server.admin_url}/ui/invocations?service=Shop&until=2000-01-01T00:00:00Z")
    expect(page.locator("#app .msg.empty")).to_have_text("No invocations match this filter.")
    expect(page.locator("input[name=until]")).to_have_value(re.compile(r"^(1999-12-31|2000-01-01)T"))


def test_finished_invocation_shows_its_journal_decoded(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, f"invocations/{ours.ids['finished']}")
    expect(page.locator("h1")).to_contain_text("Steps/run")
    expect(page.locator("h1 [data-status]")).to_have_text("succeeded")
    journal = page.locator("#journal")
    expect(journal.locator("li.command", has_text='Run "prepare"')).to_be_visible()
    expect(journal).to_contain_text('"prepared alpha"')
    expect(journal).to_contain_text('{"label":"alpha","items":[1,2,3]}')
    expect(journal.locator("li.command", has_text="Sleep")).to_contain_text("until ")
    expect(journal.locator("li.command", has_text="Output")).to_contain_text(re.compile(r"\+\d+ms"))  # since the start
    expect(page.locator("#debugger")).to_have_count(0)
    shot(page, "invocation-finished")


def test_retrying_invocation_shows_failure_stack_and_retries(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, f"invocations/{ours.ids['retrying']}")
    expect(page.locator("h1 [data-status]")).to_contain_text("backing-off")
    debugger = page.locator("#debugger")
    expect(debugger).to_contain_text("flaky failure for f1")
    expect(debugger.locator("#failure-message")).to_contain_text("Exception('flaky failure for f1')")
    expect(debugger.locator("#failure-stack")).to_contain_text("Traceback (most recent call last)")
    expect(debugger).to_contain_text("after the last journal entry")
    expect(page.locator("#retries")).to_contain_text("1s × 2 up to 8s")
    expect(page.locator("#retries")).to_contain_text("Next retry")  # sys_invocation.next_retry_at
    expect(page.locator("#planned")).to_contain_text(re.compile(r"Planned attempts: #\d+ "))
    expect(page.locator("#details #pinned")).to_contain_text("dp_")
    # Actions: those our admin API has (its /openapi lists no restart-as-new: it is not implemented here).
    for op in ("cancel", "kill", "pause", "resume", "purge"):
        expect(page.locator(f"#actions [data-op={op}]")).to_be_visible()
    expect(page.locator("#actions [data-op=restart-as-new]")).to_have_count(0)
    shot(page, "invocation-retrying")


def test_journal_debugger_shows_both_sides_of_a_non_determinism_failure(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, f"invocations/{ours.ids['drift']}")
    debugger = page.locator("#debugger")
    expect(debugger).to_contain_text("code 570")
    expect(debugger).to_contain_text('failed at journal entry #1: Run "first"')
    expect(debugger.locator("#mismatch-diff [data-side=journal]")).to_have_text("first")
    expect(debugger.locator("#mismatch-diff [data-side=code]")).to_have_text("second")
    expect(debugger.locator("[data-side=journal-entry]")).to_contain_text('"name": "first"')
    expect(page.locator("#journal li.failed-here")).to_have_attribute("data-index", "1")
    shot(page, "invocation-non-determinism")


def test_call_chain_of_the_workflow_is_a_tree_of_depth_3(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, f"invocations/{ours.ids['leaf']}")
    tree = page.locator("#call-chain")
    root = tree.locator(f"> li[data-chain-id='{ours.ids['workflow']}']")
    expect(root).to_contain_text("Shop/o1/run")
    path = root
    for _ in range(3):  # Shop -> Hop -> Hop -> Hop (the leaf), each one level deeper
        path = path.locator("> ul > li", has_text="Hop/step").first
    expect(path).to_have_attribute("data-chain-id", ours.ids["leaf"])
    expect(path).to_have_class("current")
    expect(root.locator("> ul > li", has_text="Steps/run")).to_contain_text("succeeded")
    shot(page, "invocation-call-chain")
    root.locator("> span > a").click()
    expect(page.locator("h1")).to_contain_text("Shop/o1/run")
    assert page.url.endswith(f"/ui/invocations/{ours.ids['workflow']}")
    page.get_by_role("link", name="its state").click()  # the workflow's key: its state entries
    expect(page.locator("#entries [data-entry-value=status]")).to_have_text('"shipping"')
    page.get_by_role("link", name="Invocations of Shop/o1").click()
    expect(page.locator(f"tr[data-id='{ours.ids['workflow']}']")).to_be_visible()


def test_cancel_from_the_invocation_page(page: Any, ours: UiStack) -> None:
    inv = ours.send("Waiter/wait", "to-cancel")
    wait_for(lambda: (ours.invocation(inv) or {}).get("status") in ("running", "suspended"), "Waiter running")
    open_ui(page, ours, f"invocations/{inv}")
    page.locator("[data-op=cancel]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("cancel this invocation?")
    dialog.locator("[data-confirm]").click()
    expect(page.locator("#action-result")).to_contain_text(f"cancel: accepted for {inv}")
    done = wait_for(lambda: (row := ours.invocation(inv)) and row["status"] == "completed" and row, "cancelled")
    assert "cancel" in done["completion_failure"].lower()
    expect(page.locator("h1 [data-status]")).to_have_text("cancelled")


def test_bulk_cancel_of_a_selection_with_progress(page: Any, ours: UiStack) -> None:
    targets = [ours.send("Waiter/wait", f"bulk-{i}") for i in range(3)]
    open_ui(page, ours, "invocations?service=Waiter")
    for inv in targets:
        page.locator(f"tr[data-id='{inv}'] input[type=checkbox]").check()
    expect(page.get_by_role("button", name="Apply to selected (3)")).to_be_enabled()
    page.get_by_role("button", name="Apply to selected (3)").click()
    page.get_by_role("dialog").locator("[data-confirm]").click()
    expect(page.locator("#bulk-result .msg.ok")).to_have_text("cancel: 3 of 3 accepted.")
    for inv in targets:
        wait_for(lambda inv=inv: (ours.invocation(inv) or {}).get("status") == "completed", f"{inv} cancelled")
    assert ours.invocation(ours.ids["running"])["status"] != "completed"  # not selected: untouched


def test_state_browse_edit_and_delete(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "state")
    expect(page).to_have_url(re.compile(r"/ui/state/Board$"))
    keys = page.locator("#keys")
    expect(keys).to_contain_text("alice")
    keys.get_by_role("link", name="alice").click()
    entries = page.locator("#entries")
    expect(entries.locator("[data-entry-value=color]")).to_have_text('"blue"')
    expect(entries.locator("[data-entry-value=count]")).to_have_text("3")
    shot(page, "state")
    entries.locator("[data-edit=color]").click()
    entries.locator("textarea").fill('"red"')
    entries.locator("[data-save]").click()
    expect(entries.locator("[data-entry-value=color]")).to_have_text('"red"')
    expect(entries.locator("#state-result")).to_have_text("Set color: applied.")
    assert ours.call("Board/alice/get", "color") == "red"
    assert ours.call("Board/alice/get", "count") == 3
    entries.locator("[data-delete=count]").click()
    page.get_by_role("dialog").locator("[data-confirm]").click()
    expect(entries.locator("[data-entry=count]")).to_have_count(0)
    assert ours.call("Board/alice/get", "count") is None
    assert ours.call("Board/alice/get", "color") == "red"
    page.locator("[data-clear]").click()
    page.get_by_role("dialog").locator("[data-confirm]").click()
    expect(entries).to_contain_text("This key has no state.")
    assert ours.call("Board/alice/get", "color") is None
    assert ours.call("Board/bob/get", "tags") == ["x", "y"]  # another key: untouched
    entries.locator("[data-add]").click()
    entries.get_by_label("entry name").fill("note")
    entries.locator("textarea").fill('{"a": 1}')
    entries.locator("[data-save]").click()
    expect(entries.locator("[data-entry-value=note]")).to_contain_text('"a": 1')
    assert ours.call("Board/alice/get", "note") == {"a": 1}


def test_node_view_shows_the_partition_table_live(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "node")
    table = page.locator("#partitions")
    for i in range(4):
        expect(table.locator(f"tr[data-partition='{i}']")).to_contain_text("up")
    expect(table.locator("tr[data-partition=total]")).to_contain_text("4/4 up")
    rate = table.locator("tr[data-partition=total] td").nth(8)  # commands/s over the last 2 s scrape interval
    expect(rate).to_have_text(re.compile(r"^\d+\.\d$"))
    # Live: calls made while the page is open show as a rate on a later scrape (bounded: 20 s).
    deadline = time.monotonic() + 20
    while float(rate.text_content() or 0) == 0:
        assert time.monotonic() < deadline, "the commands/s never moved"
        ours.call("Noop/ping", 1)
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("svg.chart circle").first).to_be_attached()
    shot(page, "node")


def test_sql_view_runs_a_statement_and_links_invocation_ids(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "sql")
    page.get_by_label("SQL statement").fill("SELECT id, target, status FROM sys_invocation WHERE target = 'Steps/run'"
                                            " AND completion_result = 'success' ORDER BY created_at")
    page.get_by_role("button", name="Run").click()
    result = page.locator("#sql-result")
    expect(result).to_contain_text(re.compile(r"\d+ rows? in \d+ ms"))
    expect(result.locator("th")).to_have_text(["id", "target", "status"])
    result.get_by_role("link", name=ours.ids["finished"]).click()
    expect(page.locator("h1")).to_contain_text("Steps/run")
    page.goto(f"{ours.server.admin_url}/ui/sql?query=SELECT+nope+FROM+sys_invocation")
    expect(page.locator("#sql-result .msg.error")).to_contain_text("The query failed")
    page.goto(f"{ours.server.admin_url}/ui/sql?query=SELECT+id+FROM+sys_invocation+WHERE+id+%3D+%27x%27")
    expect(page.locator("#sql-result .msg.empty")).to_have_text("No rows.")


def test_an_unreachable_server_is_a_message(page: Any, ours: UiStack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    open_ui(page, ours, f"invocations?admin={dead}")
    expect(page.locator("#app .msg.error").first).to_contain_text("unreachable")
    expect(page.locator("#server-status")).to_have_text("server unreachable")
    page.goto(f"{ours.server.admin_url}/ui/overview?admin=")  # back to this origin
    expect(page.locator("#services")).to_be_visible()


def test_unknown_invocation_and_page_are_messages(page: Any, ours: UiStack) -> None:
    open_ui(page, ours, "invocations/inv_1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    expect(page.locator("#app .msg.empty")).to_contain_text("No invocation inv_1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    open_ui(page, ours, "nowhere")
    expect(page.locator("h1")).to_have_text("Not found")


def test_bulk_pause_and_resume_of_a_whole_filter(page: Any, ours: UiStack) -> None:
    drift = ours.ids["drift"]
    open_ui(page, ours, "invocations?service=Drift")
    expect(page.locator(f"tr[data-id='{drift}']")).to_be_visible()
    page.get_by_label("Action").select_option("pause")
    page.get_by_role("button", name="Apply to all matching").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This will pause all 1 invocations matching this filter.")
    dialog.locator("[data-confirm]").click()
    expect(page.locator("#bulk-result .msg.ok")).to_have_text("pause: 1 of 1 accepted.")
    wait_for(lambda: (ours.invocation(drift) or {}).get("status") == "paused", "Drift paused")
    expect(page.locator(f"tr[data-id='{drift}'] [data-status]")).to_have_text("paused")  # the live list caught up
    page.get_by_label("Action").select_option("resume")
    page.get_by_role("button", name="Apply to all matching").click()
    page.get_by_role("dialog").locator("[data-confirm]").click()
    expect(page.locator("#bulk-result .msg.ok")).to_have_text("resume: 1 of 1 accepted.")
    wait_for(lambda: (ours.invocation(drift) or {}).get("status") != "paused", "Drift resumed")


def test_invocation_page_shows_the_trace_id(page: Any, ours: UiStack) -> None:
    """A client's sampled traceparent is the invocation's trace (kept even with tracing off)."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = ours.server.call("Steps/run", "traced", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert resp.status_code == 200, resp.text
    open_ui(page, ours, f"invocations/{resp.headers['x-restate-id']}")
    expect(page.locator("#details #trace-id")).to_have_text(trace)
