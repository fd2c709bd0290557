"""restate.introspection.partition_tables: the SQL tables' rows from a partition store built by the state machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from restate import ids
from restate.introspection import partition_tables as introspect
from restate.introspection import table_scan
from restate.storage import keys
from restate.wire import ScanFilter, ScanTable
from tests.unit.partition.harness import DEPLOYMENT_ID, NOW
from tests.unit.query.scenario import DELAYED_TO, WAKE_UP, Scenario, text


def rows(s: Scenario, table: str, *filters: ScanFilter) -> list[dict[str, Any]]:
    snapshot = s.store.db.snapshot()
    try:
        return list(introspect.rows(snapshot, table, filters))
    finally:
        snapshot.close()


def by_id(s: Scenario, table: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows(s, table)}


class CountingReader:
    """A reader that records every prefix scanned and key read (to check what a filter avoids reading)."""

    def __init__(self, s: Scenario) -> None:
        self.inner = s.store
        self.scans: list[bytes] = []
        self.gets: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.gets.append(key)
        return self.inner.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        self.scans.append(prefix)
        return self.inner.scan(prefix)


# --- sys_invocation / sys_invocation_status / sys_invocation_state


def test_status_of_every_invocation(scenario: Scenario) -> None:
    s = scenario
    derived = {r["id"]: r["status"] for r in rows(s, "sys_invocation")}
    raw = {r["id"]: r["status"] for r in rows(s, "sys_invocation_status")}
    expected = {
        s.completed: ("completed", "completed"),
        s.killed: ("completed", "completed"),
        s.running: ("running", "invoked"),
        s.inboxed: ("pending", "inboxed"),
        s.backing_off: ("backing-off", "invoked"),
        s.scheduled: ("scheduled", "scheduled"),
        s.suspended: ("suspended", "suspended"),
        s.paused: ("paused", "paused"),
        s.workflow: ("running", "invoked"),
    }
    assert derived == {text(i): d for i, (d, _) in expected.items()}
    assert raw == {text(i): r for i, (_, r) in expected.items()}


def test_invocation_columns(scenario: Scenario) -> None:
    s = scenario
    inv = by_id(s, "sys_invocation")
    done = inv[text(s.completed)]
    assert done == {
        "id": text(s.completed), "status": "completed", "target": "Greeter/greet", "target_service_name": "Greeter",
        "target_handler_name": "greet", "target_service_ty": "service", "created_at": NOW, "modified_at": NOW + 5,
        "created_using_restate_version": "1.7.12", "invoked_by": "ingress", "pinned_deployment_id": DEPLOYMENT_ID,
        "pinned_service_protocol_version": 6, "journal_size": 4, "journal_commands_size": 2, "completed_at": NOW + 5,
        "completion_retention": 86_400_000, "completion_result": "success",
    }  # fmt: skip
    killed = inv[text(s.killed)]
    assert (killed["completion_result"], killed["completion_failure"]) == ("failure", "[409] killed")
    running = inv[text(s.running)]
    assert running["target"] == "Counter/k1/add" and running["target_service_key"] == "k1"
    assert running["target_service_ty"] == "virtual_object"
    assert (running["retry_count"], running["last_start_at"]) == (1, NOW + 15)
    assert running["last_attempt_deployment_id"] == DEPLOYMENT_ID
    assert "completion_result" not in running and "last_failure" not in running
    backing_off = inv[text(s.backing_off)]
    assert (backing_off["retry_count"], backing_off["last_failure"]) == (1, "[500] boom")
    assert backing_off["next_retry_at"] == backing_off["last_start_at"] + 1000  # the failed attempt's retry delay
    assert "next_retry_at" not in running
    scheduled = inv[text(s.scheduled)]
    assert scheduled["scheduled_start_at"] == DELAYED_TO and scheduled["scheduled_at"] == NOW + 25
    assert scheduled["idempotency_key"] == "idem-1"
    assert "pinned_deployment_id" not in scheduled and "journal_size" not in scheduled
    assert inv[text(s.inboxed)]["inboxed_at"] == NOW + 15
    suspended = inv[text(s.suspended)]
    assert suspended["suspended_waiting_for_completions"] == [1]
    assert suspended["suspended_waiting_for_signals"] == []
    assert inv[text(s.workflow)]["target"] == "Signup/wf1/run"
    assert "partition_key" not in done  # sys_invocation has no partition_key (a view in Restate)


def test_invocation_status_has_partition_keys(scenario: Scenario) -> None:
    s = scenario
    for row in rows(s, "sys_invocation_status"):
        assert row["partition_key"] == ids.InvocationId.parse(row["id"]).partition_key
        assert "retry_count" not in row


def test_invocation_state_only_for_the_invoker_side(scenario: Scenario) -> None:
    s = scenario
    state = by_id(s, "sys_invocation_state")
    assert set(state) == {text(i) for i in (s.running, s.backing_off, s.paused, s.workflow)}
    assert state[text(s.running)]["in_flight"] is True
    backing_off = state[text(s.backing_off)]
    assert (backing_off["in_flight"], backing_off["retry_count"], backing_off["last_failure"]) == (
        False, 1, "[500] boom",
    )  # fmt: skip


def test_invoked_by_another_invocation() -> None:
    from restate.storage import records as r

    caller = ids.InvocationId(42, b"\x01" * 16)
    status = r.InvocationStatus(
        target=r.InvocationTarget(service="Greeter", handler="greet"), created_at_ms=1, modified_at_ms=1,
        state=r.Scheduled(execute_at_ms=5), journal=r.JournalIndex(length=1), caller_id=caller.to_bytes(),
    )  # fmt: skip
    row = introspect.invocation_row(ids.InvocationId(7, b"\x02" * 16).to_bytes(), status)
    assert (row["invoked_by"], row["invoked_by_id"]) == ("service", str(caller))


# --- sys_journal


def test_journal_of_a_call(scenario: Scenario) -> None:
    s = scenario
    journal = rows(s, "sys_journal", ScanFilter("id", "in", [text(s.completed)]))
    assert [(r["index"], r["entry_type"]) for r in journal] == [
        (0, "Command: Input"), (1, "Command: Call"), (2, "Notification: CallInvocationId"), (3, "Command: Output"),
    ]  # fmt: skip
    call = journal[1]
    assert call["invoked_id"] == text(s.callee)
    assert call["invoked_target"] == "Counter/k2/add"
    assert (call["name"], call["completed"], call["version"]) == ("count it", False, 2)
    entry = json.loads(call["entry_json"])["Command"]["Call"]
    assert entry["request"]["invocation_id"] == text(s.callee)
    assert entry["request"]["invocation_target"]["VirtualObject"]["key"] == "k2"
    assert (entry["invocation_id_completion_id"], entry["result_completion_id"]) == (1, 2)
    assert json.loads(journal[0]["entry_json"]) == {
        "Command": {"Input": {"headers": [], "payload": list(b'"Alice"'), "name": ""}}
    }
    assert json.loads(journal[3]["entry_json"]) == {
        "Command": {"Output": {"result": {"Success": list(b'"Hello"')}, "name": ""}}
    }
    assert "name" not in journal[2]  # notifications have no name
    assert journal[0]["appended_at"] == NOW and journal[3]["appended_at"] == NOW + 5
    assert "appended_at" not in journal[1]  # unknown: only the first and the last entry's times are stored
    assert journal[0]["raw"] == journal[0]["raw"] and journal[0]["raw_length"] == len(journal[0]["raw"])


def test_journal_of_a_sleep_and_of_promises(scenario: Scenario) -> None:
    s = scenario
    sleep = rows(s, "sys_journal", ScanFilter("id", "in", [text(s.running)]))[2]
    assert sleep["entry_type"] == "Command: Sleep" and sleep["name"] == "nap"
    assert sleep["sleep_wakeup_at"] == WAKE_UP and sleep["completed"] is False
    # the real server's entry_json of a Sleep (docs/reference/transcripts/cli_inv_describe.txt)
    expected = f'{{"Command":{{"Sleep":{{"wake_up_time":{WAKE_UP},"completion_id":1,"name":"nap"}}}}}}'
    assert sleep["entry_json"] == expected
    wf = rows(s, "sys_journal", ScanFilter("id", "in", [text(s.workflow)]))
    assert [r["entry_type"] for r in wf] == ["Command: Input", "Command: CompletePromise",
                                             "Notification: CompletePromise"]  # fmt: skip
    assert wf[1]["promise_name"] == "approval" and wf[1]["completed"] is True
    assert json.loads(wf[2]["entry_json"]) == {
        "Notification": {"Completion": {"CompletePromise": {"completion_id": 1, "result": "Void"}}}
    }


def test_entry_types() -> None:
    from restate.protocol import MessageType as T

    assert introspect.entry_type(T.GET_LAZY_STATE_KEYS) == "Command: GetLazyStateKeys"
    assert introspect.entry_type(T.ONE_WAY_CALL) == "Command: OneWayCall"
    assert introspect.entry_type(T.GET_INVOCATION_OUTPUT_COMPLETION) == "Notification: GetInvocationOutput"
    assert introspect.entry_type(T.CALL_INVOCATION_ID) == "Notification: CallInvocationId"
    assert introspect.entry_type(T.SIGNAL) == "Notification: Signal"
    assert introspect.entry_type(0xFC01) == "Custom: 0xfc01"


# --- state, inbox, promises, locks


def test_keyed_tables(scenario: Scenario) -> None:
    s = scenario
    k1 = ids.partition_key_for("k1")
    assert rows(s, "state") == [{
        "partition_key": k1, "service_name": "Counter", "service_key": "k1", "key": "count", "key_length": 5,
        "value": b"1", "value_utf8": "1", "value_length": 1,
    }]  # fmt: skip
    assert rows(s, "sys_inbox") == [{
        "partition_key": k1, "service_name": "Counter", "service_key": "k1", "id": text(s.inboxed),
        "sequence_number": 1, "created_at": NOW + 15,
    }]  # fmt: skip
    assert rows(s, "sys_promise") == [{
        "partition_key": ids.partition_key_for("wf1"), "service_name": "Signup", "service_key": "wf1",
        "key": "approval", "completed": True, "completion_success_value": b'"yes"',
        "completion_success_value_utf8": '"yes"',
    }]  # fmt: skip
    locks = {(r["service_name"], r["service_key"]): r["invocation_id"] for r in rows(s, "sys_keyed_service_status")}
    assert locks == {("Counter", "k1"): text(s.running), ("Signup", "wf1"): text(s.workflow)}


# --- filters: what is read, and what is returned


def test_an_id_filter_reads_only_those_invocations(scenario: Scenario) -> None:
    s = scenario
    reader = CountingReader(s)
    wanted = [text(s.running), text(s.paused), "inv_1bad", text(ids.InvocationId(5, b"\x09" * 16).to_bytes())]
    found = list(introspect.rows(reader, "sys_invocation", [ScanFilter("id", "in", wanted)]))
    assert {r["id"] for r in found} == {text(s.running), text(s.paused)}
    assert reader.scans == []  # no table scan: point reads only
    assert len(reader.gets) == 3  # the malformed id is never looked up
    reader = CountingReader(s)
    journal = list(introspect.rows(reader, "sys_journal", [ScanFilter("id", "in", [text(s.running)])]))
    assert len(journal) == 3 and reader.scans == [keys.journal_prefix(s.running)]


def test_service_and_key_filters_narrow_the_scan(scenario: Scenario) -> None:
    s = scenario
    reader = CountingReader(s)
    found = list(introspect.rows(reader, "state", [ScanFilter("service_name", "in", ["Counter"]),
                                                   ScanFilter("service_key", "in", ["k1", "k9"])]))  # fmt: skip
    assert [r["key"] for r in found] == ["count"]
    assert reader.scans == [keys.service_key_prefix(keys.KeyKind.STATE, "Counter", k) for k in ("k1", "k9")]
    reader = CountingReader(s)
    assert list(introspect.rows(reader, "sys_inbox", [ScanFilter("service_name", "in", ["Nope"])])) == []
    assert reader.scans == [keys.KeyKind.INBOX.value + keys.lp("Nope")]


def test_value_filters(scenario: Scenario) -> None:
    s = scenario
    active = rows(s, "sys_invocation", ScanFilter("status", "not_in", ["completed"]))
    assert len(active) == 7
    greeter = rows(s, "sys_invocation_status", ScanFilter("target", "prefix", ["Greeter/"]),
                   ScanFilter("status", "in", ["invoked", "paused"]))  # fmt: skip
    assert {r["id"] for r in greeter} == {text(s.backing_off), text(s.paused)}
    objects = rows(s, "sys_invocation", ScanFilter("target_service_key", "in", ["k1"]))
    assert {r["id"] for r in objects} == {text(s.running), text(s.inboxed)}
    # NULL never equals anything, nor differs from anything
    assert rows(s, "sys_invocation", ScanFilter("idempotency_key", "not_in", ["x"])) == [
        r for r in rows(s, "sys_invocation") if r["id"] == text(s.scheduled)
    ]
    # a filter on a column the table does not have is ignored (the engine filters again anyway)
    assert len(rows(s, "sys_inbox", ScanFilter("nope", "in", ["x"]))) == 1


def test_scan_projects_and_limits(scenario: Scenario) -> None:
    s = scenario
    names, values = table_scan.scan(s.store, "sys_invocation", [], ["id", "status", "nope"], 2)
    assert names == ["id", "status"] and [len(v) for v in values] == [2, 2]
    names, values = table_scan.scan(s.store, "state")
    assert names == introspect.COLUMNS["state"]
    assert dict(zip(names, (v[0] for v in values), strict=True))["scope"] is None


def test_answer_never_raises(scenario: Scenario) -> None:
    s = scenario
    good = table_scan.answer(s.store.db, ScanTable(7, "sys_inbox", [], ["id"]))
    assert (good.request_id, good.columns, good.values, good.error) == (7, ["id"], [[text(s.inboxed)]], None)
    bad = table_scan.answer(s.store.db, ScanTable(8, "sys_nope"))
    assert bad.request_id == 8 and bad.values == [] and "sys_nope" in (bad.error or "")


def test_columns_match_the_real_servers_tables() -> None:
    from restate.admin.query.schemas import PARTITION_TABLES, SCHEMAS

    assert set(introspect.COLUMNS) == set(PARTITION_TABLES)
    for table, columns in introspect.COLUMNS.items():
        assert SCHEMAS[table].names == columns, table


def test_journal_details_are_decoded_only_when_asked_for(scenario: Scenario) -> None:
    s = scenario
    running = [ScanFilter("id", "in", [text(s.running)])]
    names, values = table_scan.scan(s.store, "sys_journal", running, ["index", "entry_type"])
    assert names == ["index", "entry_type"] and values[1] == ["Command: Input", "Command: SetState", "Command: Sleep"]
    plain = list(introspect.rows(s.store, "sys_journal", running, ["index", "entry_type"]))
    assert all("name" not in r and "entry_json" not in r for r in plain)
    named = list(introspect.rows(s.store, "sys_journal", running, ["name"]))
    assert [r.get("name") for r in named] == ["", "", "nap"] and all("entry_json" not in r for r in named)
    # a filter on a detail column needs the details too
    filtered = list(introspect.rows(s.store, "sys_journal", [*running, ScanFilter("name", "in", ["nap"])], ["index"]))
    assert [r["index"] for r in filtered] == [2]


def test_invocation_id_text_is_restates() -> None:
    import os

    samples = [bytes(24), b"\xff" * 24, bytes(23) + b"\x01", *(os.urandom(24) for _ in range(200))]
    for raw in samples:
        assert introspect._id_text(raw) == str(ids.InvocationId.from_bytes(raw))
