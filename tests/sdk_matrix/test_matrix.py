"""One behavioural suite, eight ways: {our SDK, official Python SDK, official TypeScript SDK over h2c and over
HTTP/1.1} x {our server, real server} (see conftest.py). Where the TypeScript SDK behaves differently, the
test says so and asserts its behaviour.

Where our server does not support a feature yet (conftest.OUR_SERVER_GAPS), the test is marked
xfail(strict=True) on our server with the reason, so it turns red (XPASS) as soon as the server gains it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.sdk_matrix.conftest import (
    OUR_SERVER_GAPS,
    UNSUPPORTED_DEADLINE_S,
    Stack,
    eventually,
    needs_server_feature,
)


def _key() -> str:
    return uuid.uuid4().hex[:10]


def call(stack: Stack, path: str, body: Any = None, timeout: float = 60.0, **headers: str) -> httpx.Response:
    """POST `{ingress}/{path}` with a JSON body (bytes are sent raw)."""
    content = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    hdrs = {} if content is None else {"content-type": "application/json"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return stack.server.client.post(f"{stack.server.ingress_url}/{path}", content=content, headers=hdrs,
                                    timeout=timeout)  # fmt: skip


def ok(stack: Stack, path: str, body: Any = None, timeout: float = 60.0, **headers: str) -> Any:
    """Call and expect 200; returns the decoded JSON (None for an empty body)."""
    resp = call(stack, path, body, timeout, **headers)
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def _deadline(stack: Stack) -> float:
    """Short deadlines where a feature is expected to be missing (xfail), normal ones elsewhere."""
    return UNSUPPORTED_DEADLINE_S if stack.ours and OUR_SERVER_GAPS else 20.0


def recorded(stack: Stack, key: str) -> list[str]:
    return ok(stack, f"Recorder/{key}/lines")  # type: ignore[no-any-return]


# --- deployment ------------------------------------------------------------------------------

PROTOCOL_TYPES = {"bidi": "BidiStream", "rr": "RequestResponse"}


def test_deployment_transport(stack: Stack) -> None:
    deployment = stack.server.client.get(f"{stack.server.admin_url}/deployments/{stack.deployment_id}").json()
    assert deployment["protocol_type"] == PROTOCOL_TYPES[stack.transport], deployment
    assert deployment["http_version"] == ("HTTP/1.1" if stack.transport == "rr" else "HTTP/2.0"), deployment
    if stack.sdk == "ts":
        assert deployment["sdk_version"] == "restate-sdk-typescript/1.17.2", deployment


# --- services --------------------------------------------------------------------------------


def test_greet(stack: Stack) -> None:
    resp = call(stack, "Greeter/greet", "Alice")
    assert resp.status_code == 200, resp.text
    assert resp.content == b'"Hello Alice!"'
    assert resp.headers["content-type"] == "application/json"


def test_steps_with_three_runs(stack: Stack) -> None:
    assert ok(stack, "Greeter/steps", 7) == 10


def test_concurrent_awaits(stack: Stack) -> None:
    assert ok(stack, "Greeter/parallel", 10) == [11, 12, 13, 14]


def test_request_info(stack: Stack) -> None:
    info = ok(stack, "Greeter/info", None, x_matrix="hello")
    assert info["id"].startswith("inv_1") and len(info["id"]) == 38
    assert info["header"] == "hello"


def test_void_output(stack: Stack) -> None:
    resp = call(stack, "Greeter/nothing")
    assert resp.status_code == 200, resp.text
    assert resp.content == b""


def test_bytes_serde(stack: Stack) -> None:
    resp = call(stack, "Greeter/echo_bytes", b"\x00abc\xff", content_type="application/octet-stream")
    assert resp.status_code == 200, resp.text
    assert resp.content == b"\xffcba\x00"


# --- virtual objects -------------------------------------------------------------------------


def test_object_state(stack: Stack) -> None:
    key = _key()
    assert ok(stack, f"Counter/{key}/add", 5) == 5
    assert ok(stack, f"Counter/{key}/add", 2) == 7
    assert ok(stack, f"Counter/{key}/get") == 7


def test_object_state_keys_and_clear(stack: Stack) -> None:
    key = _key()
    ok(stack, f"Counter/{key}/add", 1)
    assert ok(stack, f"Counter/{key}/keys") == ["count", "other"]
    assert ok(stack, f"Counter/{key}/reset") == 0
    assert ok(stack, f"Counter/{key}/get") == 0


def stored_state_keys(stack: Stack, service: str, key: str) -> list[str]:
    """The state keys the server has stored for `service`/`key` (SQL on the admin API)."""
    sql = f"SELECT key FROM state WHERE service_name = '{service}' AND service_key = '{key}'"
    resp = stack.server.client.post(f"{stack.server.admin_url}/query", json={"query": sql},
                                     headers={"accept": "application/json"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    return sorted(row["key"] for row in resp.json()["rows"])


def test_state_keys_after_clear_in_the_same_invocation(stack: Stack) -> None:
    """Every SDK lists a key it cleared earlier in the same invocation (eager state), as the official SDKs'
    shared core does: a cleared key stays in the eager map, as known to be empty. The server did delete it."""
    key = _key()
    ok(stack, f"Counter/{key}/set_ab")
    assert stored_state_keys(stack, "Counter", key) == ["a", "b"]
    assert ok(stack, f"Counter/{key}/clear_b_then_keys") == ["a", "b"]
    assert stored_state_keys(stack, "Counter", key) == ["a"]


def test_lazy_state(stack: Stack) -> None:
    key = _key()
    assert ok(stack, f"LazyCounter/{key}/add", 3) == 3
    assert ok(stack, f"LazyCounter/{key}/add", 4) == 7
    assert ok(stack, f"LazyCounter/{key}/keys") == ["count"]


# --- timers ----------------------------------------------------------------------------------


def test_sleep(stack: Stack) -> None:
    started = time.monotonic()
    assert ok(stack, "Timers/sleep", 200) == "slept 200"
    assert time.monotonic() - started >= 0.2


def test_sleep_suspends_and_resumes(stack: Stack) -> None:
    started = time.monotonic()
    assert ok(stack, "Timers/sleep", 1500) == "slept 1500"  # > the 1 s inactivity timeout
    assert time.monotonic() - started >= 1.5


def test_gather_and_select(stack: Stack) -> None:
    assert ok(stack, "Timers/combo") == "combo:timer"


def test_random_and_uuid_are_deterministic_across_replays(stack: Stack) -> None:
    assert ok(stack, "Timers/deterministic", 1200) is True


def test_time(stack: Stack) -> None:
    assert ok(stack, "Timers/now") is True


# --- failures and retries --------------------------------------------------------------------


def test_terminal_error(stack: Stack) -> None:
    resp = call(stack, "Failures/terminal", 418)
    assert resp.status_code == 418, resp.text
    assert resp.json()["message"] == "nope"
    assert resp.json()["code"] == 418


def test_retries_until_success(stack: Stack) -> None:
    assert ok(stack, "Failures/flaky", _key()) == "ok after 3"


def test_retryable_error_with_delay(stack: Stack) -> None:
    assert ok(stack, "Failures/retryable", _key()) == "ok after 2"


def test_run_retries(stack: Stack) -> None:
    assert ok(stack, "Failures/run_retry", _key()) == "step ok after 3"


def test_run_gives_up_after_max_attempts(stack: Stack) -> None:
    # The terminal error carries the last attempt's failure message: the Python SDKs send `repr(error)`,
    # the TypeScript SDK `error.message`.
    expected = "gave up: run boom" if stack.sdk == "ts" else "gave up: ValueError('run boom')"
    assert ok(stack, "Failures/run_gives_up", _key()) == expected


def test_run_terminal_error(stack: Stack) -> None:
    assert ok(stack, "Failures/run_terminal") == "422:step says no"


# --- calls, sends, awakeables, cancellation --------------------------------------------------


def test_call_and_sends(stack: Stack) -> None:
    key = f"K{_key()}"
    assert ok(stack, "Calls/call_and_send", key) == f"called:Hello {key}!"
    assert eventually(lambda: ok(stack, f"Counter/{key}/get"), lambda v: v == 11) == 11  # send + delayed send


def test_callee_terminal_error_propagates(stack: Stack) -> None:
    assert ok(stack, "Calls/call_terminal") == "callee failed 418: nope"


def test_generic_call(stack: Stack) -> None:
    assert ok(stack, "Calls/generic", "G") == '"Hello G!"'


def test_send_returns_invocation_id(stack: Stack) -> None:
    assert ok(stack, "Calls/send_id", "S") is True


def test_awakeable_resolved_by_another_handler(stack: Stack) -> None:
    assert ok(stack, "Calls/awake", "resolve") == "awakeable:resolved!"


def test_awakeable_rejected_by_another_handler(stack: Stack) -> None:
    assert ok(stack, "Calls/awake", "reject") == "rejected:451:rejected!"


def test_cancel_from_a_handler(stack: Stack) -> None:
    key = _key()
    assert ok(stack, "Calls/cancel_victim", key) is True
    assert eventually(lambda: recorded(stack, key), lambda v: len(v) == 2) == ["started", "cancelled 409"]


# --- features that needed the issue-4 server work (see conftest.OUR_SERVER_GAPS) -----------


def test_workflow_with_durable_promise(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "workflows")
    key = _key()
    deadline = _deadline(stack)
    assert call(stack, f"Signup/{key}/run/send", "a@b.c").status_code == 202
    assert eventually(lambda: ok(stack, f"Signup/{key}/status"), lambda s: s == "waiting", deadline) == "waiting"
    ok(stack, f"Signup/{key}/confirm", "yes", timeout=deadline)
    assert eventually(lambda: ok(stack, f"Signup/{key}/status"), lambda s: s == "confirmed", deadline) == "confirmed"


def test_attach_invocation(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "attach")
    assert ok(stack, "Calls/attach", "A", timeout=_deadline(stack)) == "Hello A!"


def test_idempotent_calls_from_a_handler(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "idempotency")
    assert ok(stack, "Calls/idempotent_twice", _key(), timeout=_deadline(stack)) is True


def test_ingress_idempotency_key(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "idempotency")
    key, idem = _key(), _key()
    assert ok(stack, f"Counter/{key}/add", 1, idempotency_key=idem) == 1
    assert ok(stack, f"Counter/{key}/add", 1, idempotency_key=idem) == 1
    assert ok(stack, f"Counter/{key}/get") == 1


def test_cancel_through_admin_api(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "admin-cancel")
    key = _key()
    sent = call(stack, "Calls/victim/send", key)
    assert sent.status_code == 202, sent.text
    invocation_id = sent.json()["invocationId"]
    assert eventually(lambda: recorded(stack, key), bool) == ["started"]
    resp = stack.server.client.patch(f"{stack.server.admin_url}/invocations/{invocation_id}/cancel")
    assert resp.status_code in (200, 202), resp.text
    deadline = _deadline(stack)
    assert eventually(lambda: recorded(stack, key), lambda v: len(v) == 2, deadline) == ["started", "cancelled 409"]


def test_awakeable_resolved_through_ingress(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "ingress-awakeables")
    key = _key()
    assert call(stack, "Calls/awake_external/send", key).status_code == 202
    awakeable_id = eventually(lambda: recorded(stack, key), bool)[0]
    resp = call(stack, f"restate/awakeables/{awakeable_id}/resolve", "hi", timeout=_deadline(stack))
    assert resp.status_code in (200, 202), resp.text
    deadline = _deadline(stack)
    assert eventually(lambda: recorded(stack, key), lambda v: len(v) == 2, deadline) == [awakeable_id, "got hi"]


def test_ingress_invocation_output(request: pytest.FixtureRequest, stack: Stack) -> None:
    needs_server_feature(request, stack, "ingress-attach")
    sent = call(stack, "Greeter/greet/send", "Out")
    assert sent.status_code == 202, sent.text
    url = f"{stack.server.ingress_url}/restate/invocation/{sent.json()['invocationId']}/attach"
    resp = stack.server.client.get(url, timeout=_deadline(stack))
    assert resp.status_code == 200, resp.text
    assert resp.json() == "Hello Out!"
