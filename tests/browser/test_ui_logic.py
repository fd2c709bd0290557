"""The UI's pure functions, run in Chromium and checked against inputs/outputs (and against the Python code that
computes the same thing: the state version of the official CLI, the dashboard's histogram quantiles)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cli.admin_client import state_version
from restate.dashboard.model import Histogram
from restate.sdk.vm_journal import mismatch_message
from tests.browser.proxy import UiProxy
from tests.support import free_port

OFFICIAL_MISMATCH = (
    "[570] Found a mismatch between the code paths taken during the previous execution and the paths taken during "
    "this execution.\nThis typically happens when some parts of the code are non-deterministic.\n"
    "- The mismatch happened while executing 'run' (index '1')\n- Difference:\n   name: first != second\n"
)


@pytest.fixture(scope="module")
def js(browser: Any) -> Iterator[Any]:
    """Runs an expression with the UI's modules imported as `m` (util, journal, invocations, state, node, ...)."""
    with UiProxy(f"http://127.0.0.1:{free_port()}") as proxy:  # only its /ui/ files are used
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{proxy.url}/ui/css/app.css")
        page.evaluate("""async () => { window.m = {
            util: await import('/ui/js/util.js'), journal: await import('/ui/js/views/journal.js'),
            invocations: await import('/ui/js/views/invocations.js'),
            invocation: await import('/ui/js/views/invocation.js'),
            state: await import('/ui/js/views/state.js'), node: await import('/ui/js/views/node.js') }; }""")

        def run(expression: str, arg: Any = None) -> Any:
            return page.evaluate(f"async (arg) => {{ const m = window.m; return {expression}; }}", arg)

        yield run
        context.close()


def test_state_version_is_the_official_clis(js: Any) -> None:
    entries = {"b": b"\x00\xff", "a": b'"x"', "count": b"42", "\u00e9t\u00e9": b"{}"}
    got = js("m.state.stateVersion(Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, new Uint8Array(v)])))",
             {k: list(v) for k, v in entries.items()})  # fmt: skip
    assert got == state_version(entries)
    assert js("m.state.stateVersion({})") == state_version({})


def test_mismatch_sides_from_the_official_sdks_message(js: Any) -> None:
    sides = js("m.journal.mismatchSides(arg, '570')", OFFICIAL_MISMATCH)
    assert sides == {"recorded": None, "current": None, "command": "run", "diffs": [["name", "first", "second"]]}
    inv = {"last_failure": OFFICIAL_MISMATCH}
    entries = [{"index": 0, "kind": "command"}, {"index": 1, "kind": "command"}, {"index": 2, "kind": "notification"}]
    assert js("m.journal.failedEntryIndex(arg.inv, arg.entries)", {"inv": inv, "entries": entries}) == 1
    assert js("m.journal.failureCode(arg)", inv) == "570"


def test_mismatch_sides_from_our_sdks_message(js: Any) -> None:
    from restate.protocol._generated import service_protocol_pb2 as pb

    text = mismatch_message(3, 0x0403, pb.SleepCommandMessage(), 0x0411, pb.RunCommandMessage(name="charge"))
    sides = js("m.journal.mismatchSides(arg, null)", text)
    assert sides["recorded"].startswith("'") and "(index '3')" in sides["recorded"]
    assert "Run" in sides["current"] or "run" in sides["current"].lower()
    assert js("m.journal.mismatchSides('[500] boom', '500')") is None


def test_where_clause_escapes_and_maps_statuses(js: Any) -> None:
    query = {"service": "O'Brien", "status": "succeeded", "since": "2026-01-02T03:04:05.000Z", "handler": ""}
    where = js("m.invocations.whereClause(new URLSearchParams(arg))", query)
    assert where == (
        " WHERE target_service_name = 'O''Brien' AND status = 'completed' AND completion_result = 'success'"
        " AND created_at >= '2026-01-02T03:04:05.000Z'"
    )
    assert js("m.invocations.whereClause(new URLSearchParams(arg), false)", {"status": "paused"}) == ""
    assert js("m.invocations.whereClause(new URLSearchParams(arg))", {"status": "backing-off"}) == (
        " WHERE status = 'backing-off'"
    )
    sql = js("m.invocations.listSql(new URLSearchParams(arg), 400)", {"service": "Hop"})
    assert sql.endswith("WHERE target_service_name = 'Hop' ORDER BY created_at DESC LIMIT 400")


def test_a_call_entry_is_decoded_with_its_target_callee_and_value(js: Any) -> None:
    entry_json = {
        "Command": {"Call": {"request": {
            "invocation_id": "inv_1abc", "parameter": list(b'{"depth": 2}'),
            "invocation_target": {"Service": {"name": "Hop", "handler": "step"}}}, "name": ""}}
    }  # fmt: skip
    row = {"index": 2, "entry_type": "Command: Call", "entry_json": json.dumps(entry_json)}
    entry = js("m.journal.decodeEntry(arg)", row)
    assert (entry["kind"], entry["target"], entry["invocationId"]) == ("command", "Hop/step", "inv_1abc")
    assert entry["value"] == {"json": {"depth": 2}}
    failure = {"Notification": {"Completion": {"Call": {"completion_id": 1, "result": {
        "Failure": {"code": 409, "message": "cancelled"}}}}}}  # fmt: skip
    row = {"index": 3, "entry_type": "Notification: Call", "entry_json": json.dumps(failure)}
    entry = js("m.journal.decodeEntry(arg)", row)
    assert (entry["kind"], entry["failure"]) == ("notification", "[409] cancelled")
    assert js("m.util.decodePayload(new Uint8Array(arg))", [0xFF, 0x00]) == {"hex": "ff00"}


def test_planned_retries_follow_the_policy(js: Any) -> None:
    policy = {"initial_interval": "1s", "exponentiation_factor": 2.0, "max_interval": "8s", "max_attempts": 5}
    planned = js("m.invocation.plannedRetries(arg, 2, 1000)", policy)
    assert planned == [[3, 1000], [4, 5000], [5, 13000]]  # retries 3 and 4 wait 4 s, then 8 s (the cap)
    assert js("m.util.parseDuration(arg)", "1m 30s") == 90_000
    assert js("m.util.parseDuration(arg)", "PT86400S") == 86_400_000


def test_histogram_quantiles_are_the_dashboards(js: Any) -> None:
    buckets = {0.001: 3.0, 0.002: 10.0, 0.004: 18.0, 0.008: 19.0, float("inf"): 20.0}
    js_buckets = {("+Inf" if le == float("inf") else str(le)): n for le, n in buckets.items()}
    hist = Histogram(buckets=buckets, total=0.05, count=20.0)
    for q in (0.5, 0.9, 0.99):
        got = js("m.node.quantile(arg.h, arg.q)", {"h": {"buckets": js_buckets, "sum": 0.05, "count": 20}, "q": q})
        assert got == pytest.approx(hist.quantile(q))
    assert js("m.node.quantile({buckets: {}, sum: 0, count: 0}, 0.5)") is None


def test_metrics_text_is_parsed_into_partition_rows(js: Any) -> None:
    text = "\n".join([
        '# HELP restate_partition_invocations x', 'restate_partition_invocations{partition_id="p1",status="invoked"} 4',
        'restate_partition_invocations{partition_id="p1",status="suspended"} 2', 'restate_process_up{process="p1"} 1',
        'restate_partition_commands_applied_total{partition_id="p1"} 100', 'restate_process_up{process="admin"} 1',
    ])  # fmt: skip
    later = text.replace("applied_total{partition_id=\"p1\"} 100", "applied_total{partition_id=\"p1\"} 160")
    view = js("""m.node.rows(m.node.snapshot(m.node.parseMetrics(arg.later), 3000),
                             m.node.snapshot(m.node.parseMetrics(arg.text), 1000))""", {"text": text, "later": later})
    (row,) = view["rows"]
    assert (row["partition"], row["running"], row["suspended"], row["commandsPerS"]) == (1, 4, 2, 30)
    assert row["liveness"] == "starting"  # up, but no heartbeat yet
    assert view["totals"]["liveness"] == "0/1 up"


def test_a_commands_result_is_the_notification_of_its_last_completion_id(js: Any) -> None:
    call = {"Command": {"Call": {"invocation_id_completion_id": 1, "result_completion_id": 2, "request": {}}}}
    got_id = {"Notification": {"Completion": {"CallInvocationId": {"completion_id": 1, "invocation_id": "inv_1x"}}}}
    result = {"Notification": {"Completion": {"Call": {"completion_id": 2, "result": {"Success": list(b"1")}}}}}
    rows = [
        {"index": 1, "entry_type": "Command: Call", "entry_json": json.dumps(call)},
        {"index": 2, "entry_type": "Notification: CallInvocationId", "entry_json": json.dumps(got_id)},
        {"index": 3, "entry_type": "Notification: Call", "entry_json": json.dumps(result)},
    ]
    results = js("Object.fromEntries(Object.entries(m.journal.resultsOf(arg.map(m.journal.decodeEntry)))"
                 ".map(([k, v]) => [k, v.index]))", rows)
    assert results == {"1": 3}
