"""`sys_journal` rows decoded for `invocations describe`: the real server's `entry_json`, or the detail columns.

The rows are the real restate-server 1.7.12's (captured from its /query): its detail columns are empty and
the entry's contents are in `entry_json`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cli import journal

CALLEE = "inv_1iyF5Za7tVoR1XIGw3VJP9eFb87UOhaWm4"
SENT = "inv_15SViOTG8wFM3K9AkLevjM7TI6oyfvPJhT"
AWAKEABLE = "sign_1M28aqY6ZfuwBmRnmyP/WzBeE8rE3PKbLAAAAEQ"
NOW = datetime(2026, 12, 2, 5, 46, tzinfo=UTC)


def row(index: int, entry_type: str, entry: dict[str, Any], **columns: Any) -> dict[str, Any]:
    base = {"index": index, "entry_type": entry_type, "version": 2, "appended_at": "2026-12-02T05:45:27.044Z"}
    return {**base, **columns, "entry_json": json.dumps(entry, separators=(",", ":"))}


def text(data: str) -> list[int]:
    return list(data.encode())


CALL_REQUEST = {
    "invocation_id": CALLEE,
    "invocation_target": {
        "VirtualObject": {"name": "Tally", "key": "t1", "handler": "bump", "handler_ty": "Exclusive", "scope": None}
    },  # fmt: skip
    "parameter": text('"one"'),
    "headers": [],
    "idempotency_key": "i1",
}
REAL_ROWS = [
    row(0, "Command: Input", {"Command": {"Input": {"headers": [], "payload": text('{"key": "t1"}'), "name": ""}}}),
    row(
        1,
        "Command: Call",
        {
            "Command": {
                "Call": {
                    "request": CALL_REQUEST,
                    "invocation_id_completion_id": 1,
                    "result_completion_id": 2,
                    "name": "",
                }
            }
        },
    ),  # fmt: skip
    row(
        2,
        "Notification: CallInvocationId",
        {"Notification": {"Completion": {"CallInvocationId": {"completion_id": 1, "invocation_id": CALLEE}}}},
    ),
    row(
        3,
        "Notification: Call",
        {"Notification": {"Completion": {"Call": {"completion_id": 2, "result": {"Success": text('"one#1"')}}}}},
    ),
    row(4, "Command: Sleep", {"Command": {"Sleep": {"wake_up_time": 1796193927077, "completion_id": 3, "name": ""}}}),
    row(5, "Command: SetState", {"Command": {"SetState": {"key": "b", "value": text('{"x": [1, 2]}'), "name": ""}}}),
    row(6, "Command: GetPromise", {"Command": {"GetPromise": {"key": "approval", "completion_id": 4, "name": ""}}}),
    row(7, "Command: Run", {"Command": {"Run": {"completion_id": 5, "name": "record"}}}, name="record"),
    row(
        8,
        "Notification: Run",
        {"Notification": {"Completion": {"Run": {"completion_id": 5, "result": {"Success": text('"wf-run w1"')}}}}},
    ),
    row(
        9,
        "Command: OneWayCall",
        {
            "Command": {
                "OneWayCall": {
                    "request": {
                        **CALL_REQUEST,
                        "invocation_id": SENT,
                        "parameter": text('"tg"'),
                        "invocation_target": {"Service": {"name": "Stamp", "handler": "record", "scope": None}},
                    },
                    "invoke_time": 1796190327564,
                    "invocation_id_completion_id": 6,
                    "name": "",
                }
            }
        },
    ),  # fmt: skip
    row(10, "Command: GetEagerStateKeys", {"Command": {"GetEagerStateKeys": {"state_keys": ["a", "b"], "name": ""}}}),
    row(
        11,
        "Command: CompleteAwakeable",
        {"Command": {"CompleteAwakeable": {"id": AWAKEABLE, "result": {"Success": text('"go"')}, "name": ""}}},
    ),  # fmt: skip
    row(
        12,
        "Command: Output",
        {"Command": {"Output": {"result": {"Failure": {"code": 500, "message": "boom"}}, "name": ""}}},
    ),  # fmt: skip
]


def by_index() -> dict[int, journal.Entry]:
    return {e.index: e for e in journal.decode(REAL_ROWS)}


def test_calls_show_their_target_callee_and_input() -> None:
    entries = by_index()
    call = entries[1]
    assert (call.target, call.invocation_id, call.value, call.completed) == ("Tally/t1/bump", CALLEE, "one", True)
    assert entries[2].invocation_id == CALLEE and entries[3].value == "one#1"
    send = entries[9]
    assert (send.target, send.invocation_id, send.value) == ("Stamp/record", SENT, "tg")
    assert send.wake_up_at == "2026-12-02T05:45:27.564Z"  # a delayed send's start


def test_sleeps_state_promises_runs_and_values() -> None:
    entries = by_index()
    assert (entries[0].value, entries[0].as_json()["value"]) == ({"key": "t1"}, {"key": "t1"})
    assert (entries[4].wake_up_at, entries[4].completed) == ("2026-12-02T06:45:27.077Z", False)
    assert (entries[5].state_key, entries[5].value) == ("b", {"x": [1, 2]})
    assert (entries[6].promise, entries[6].state_key, entries[6].completed) == ("approval", None, False)
    assert (entries[7].name, entries[7].completed, entries[8].value) == ("record", True, "wf-run w1")
    assert entries[10].state_keys == ["a", "b"]
    assert (entries[11].awakeable, entries[11].value) == (AWAKEABLE, "go")
    assert (entries[12].failure, entries[12].value) == ("[500] boom", None)


def test_details_lines_are_what_the_table_shows() -> None:
    entries = by_index()
    assert journal.details(entries[1], NOW).splitlines() == ["Tally/t1/bump", CALLEE, "input one"]
    assert journal.details(entries[4], NOW).splitlines() == [
        "until 2026-12-02 06:45:27.077 UTC (in 59m 27s)", "(waiting for its result)",
    ]  # fmt: skip
    assert journal.details(entries[5], NOW) == 'key b\nvalue {"x": [1, 2]}'
    assert journal.details(entries[6], NOW) == "promise approval\n(waiting for its result)"
    assert journal.details(entries[7], NOW) == "[record]"
    assert journal.details(entries[9], NOW).splitlines()[2] == "at 2026-12-02 05:45:27.564 UTC (32s ago)"
    assert journal.details(entries[12], NOW) == "failure [500] boom"
    assert journal.details(entries[0], NOW) == 'input {"key": "t1"}'


def test_long_values_are_cut_on_one_line() -> None:
    entry = journal.Entry(0, "Command: Output", value={"text": "word " * 100})
    shown = journal.details(entry, NOW)
    assert "\n" not in shown and len(shown) == len("result ") + journal.VALUE_LIMIT and shown.endswith("…")


def test_columns_are_the_fallback_and_a_strange_entry_json_is_no_crash() -> None:
    v1 = {"index": 1, "entry_type": "Call", "invoked_id": CALLEE, "invoked_target": "Tally/t1/bump",
          "completed": True, "name": "add"}  # fmt: skip
    sleep = {"index": 2, "entry_type": "Sleep", "sleep_wakeup_at": "2026-12-02T06:45:27.077Z", "completed": False}
    promise = {"index": 3, "entry_type": "GetPromise", "promise_name": "approval", "entry_json": "{not json"}
    odd = {"index": 4, "entry_type": "Command: Call", "entry_json": '{"Command": {"Call": {"request": 7}}}'}
    entries = {e.index: e for e in journal.decode([v1, sleep, promise, odd])}
    assert (entries[1].target, entries[1].invocation_id, entries[1].name) == ("Tally/t1/bump", CALLEE, "add")
    assert journal.details(entries[2], NOW).startswith("until 2026-12-02 06:45:27.077 UTC")
    assert entries[3].promise == "approval"
    assert entries[4].entry_type == "Command: Call" and journal.details(entries[4], NOW) == ""
