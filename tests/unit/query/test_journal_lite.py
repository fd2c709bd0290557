"""restate.introspection.journal_json.lite_entry: `sys_journal.entry_lite_json` from `entry_json`, checked against
what restate-server 1.7.12 answered for the same entries (docs: the real server's sys_journal rows)."""

from __future__ import annotations

import json

import pytest

from restate.introspection.journal_json import lite_entry

_TARGET = {"Service": {"name": "Private", "handler": "secret", "scope": None}}
_SPAN = {"span_context": {"trace_id": [0] * 16, "span_id": [0] * 8, "trace_flags": 0, "is_remote": False,
                          "trace_state": ""}, "cause": None}  # fmt: skip
_REQUEST = {"invocation_id": "inv_17NiYNUW9XQu2IHdu3NjZB6JfURhQXlmP7", "invocation_target": _TARGET,
            "span_context": _SPAN, "parameter": [34, 97, 34], "headers": [], "idempotency_key": None,
            "completion_retention_duration": {"secs": 86400, "nanos": 0},
            "journal_retention_duration": {"secs": 86400, "nanos": 0}}  # fmt: skip

# (entry_json, entry_lite_json) pairs as the real server shows them
REAL = [
    ({"Command": {"Input": {"headers": [{"name": "accept", "value": "*/*"}], "payload": [34], "name": ""}}},
     {"Command": {"Input": {}}}),
    ({"Command": {"Call": {"request": _REQUEST, "invocation_id_completion_id": 1, "result_completion_id": 2,
                           "name": ""}}},
     {"Command": {"Call": {"invocation_id": "inv_17NiYNUW9XQu2IHdu3NjZB6JfURhQXlmP7", "invocation_target": _TARGET,
                           "invocation_id_completion_id": 1, "result_completion_id": 2}}}),
    ({"Command": {"OneWayCall": {"request": _REQUEST, "invoke_time": 0, "invocation_id_completion_id": 1,
                                 "name": ""}}},
     {"Command": {"OneWayCall": {"invocation_id": "inv_17NiYNUW9XQu2IHdu3NjZB6JfURhQXlmP7",
                                 "invocation_target": _TARGET, "invoke_time": 0, "invocation_id_completion_id": 1}}}),
    ({"Command": {"Output": {"result": {"Success": [34, 115, 34]}, "name": ""}}},
     {"Command": {"Output": {"result": "Success"}}}),
    ({"Command": {"ClearAllState": {"name": ""}}}, {"Command": {"ClearAllState": {}}}),
    ({"Command": {"ClearState": {"key": "a", "name": ""}}}, {"Command": {"ClearState": {"key": "a"}}}),
    ({"Command": {"CompletePromise": {"key": "approval", "value": {"Success": [34]}, "completion_id": 1, "name": ""}}},
     {"Command": {"CompletePromise": {"key": "approval", "completion_id": 1}}}),
    ({"Command": {"GetEagerState": {"key": "a", "result": {"Success": [49]}, "name": ""}}},
     {"Command": {"GetEagerState": {"key": "a", "result": "Success"}}}),
    ({"Command": {"GetEagerStateKeys": {"state_keys": ["a", "b"], "name": ""}}},
     {"Command": {"GetEagerStateKeys": {}}}),
    ({"Command": {"GetLazyState": {"key": "a", "completion_id": 1, "name": ""}}},
     {"Command": {"GetLazyState": {"key": "a", "completion_id": 1}}}),
    ({"Command": {"GetPromise": {"key": "approval", "completion_id": 2, "name": ""}}},
     {"Command": {"GetPromise": {"key": "approval", "completion_id": 2}}}),
    ({"Command": {"Run": {"completion_id": 1, "name": "stamp"}}}, {"Command": {"Run": {"completion_id": 1,
                                                                                         "name": "stamp"}}}),
    ({"Command": {"SetState": {"key": "b", "value": [123, 125], "name": ""}}}, {"Command": {"SetState": {"key": "b"}}}),
    ({"Notification": {"Completion": {"Call": {"completion_id": 2, "result": {"Success": [34]}}}}},
     {"Notification": {"ty": {"Completion": "Call"}, "id": {"CompletionId": 2}, "result": "Success"}}),
    ({"Notification": {"Completion": {"CallInvocationId": {"completion_id": 1, "invocation_id": "inv_1"}}}},
     {"Notification": {"ty": {"Completion": "CallInvocationId"}, "id": {"CompletionId": 1},
                       "result": "InvocationId"}}),
    ({"Notification": {"Completion": {"CompletePromise": {"completion_id": 1, "result": "Void"}}}},
     {"Notification": {"ty": {"Completion": "CompletePromise"}, "id": {"CompletionId": 1}, "result": "Void"}}),
    ({"Notification": {"Completion": {"GetLazyStateKeys": {"completion_id": 4, "state_keys": ["a"]}}}},
     {"Notification": {"ty": {"Completion": "GetLazyStateKeys"}, "id": {"CompletionId": 4}, "result": "StateKeys"}}),
    ({"Notification": {"Signal": {"id": {"Index": 17}, "result": {"Success": [34]}}}},
     {"Notification": {"ty": "Signal", "id": {"SignalIndex": 17}, "result": "Success"}}),
]  # fmt: skip


@pytest.mark.parametrize(("full", "lite"), REAL, ids=[next(iter(next(iter(f.values())))) for f, _ in REAL])
def test_lite_json_is_the_real_servers(full: dict[str, object], lite: dict[str, object]) -> None:
    assert lite_entry(json.loads(json.dumps(full))) == lite


def test_unknown_shapes_have_no_lite_json() -> None:
    assert lite_entry({"Event": {}}) is None and lite_entry([]) is None and lite_entry({"a": 1, "b": 2}) is None
