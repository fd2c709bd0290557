"""Invocation lifecycle through the admin API, run against the real restate-server 1.7.12 and ours.

Cancel, kill, pause, resume and purge of invocations (`PATCH /invocations/{id}/...`), what they do
to a virtual object's lock, `POST /services/{name}/state`, per-service settings from discovery
(retry policy, inactivity timeout, ingress_private), `PATCH /services/{name}`, and deployment
pinning. Services: tests/services/lifecycle.py. Expected answers are the real server's; where they
differ from docs HTTP-API.md 2.x a comment says so. Test ids contain `real` / `ours`.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from tests.integration.lifecycle_support import (
    NOT_FOUND_ATTACH,
    NOT_FOUND_INGRESS,
    NOT_READY,
    SERVER_KINDS,
    LifecycleStack,
    assert_accepted,
    assert_empty_202,
    assert_expires_in_a_day,
    assert_ingress_error,
    assert_invocation_error,
    assert_ok,
    compact,
    start_stack,
    unique,
    wait_until,
)
from tests.support import ServiceProcess

UNKNOWN_INV = "inv_1aFJvKXmN0BJ6T377FWppySuyYEopnG7G6"  # well-formed, never used


@pytest.fixture(scope="module", params=SERVER_KINDS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LifecycleStack]:
    with start_stack(request.param, tmp_path_factory.mktemp(request.param)) as s:
        yield s


def assert_empty(resp: httpx.Response, status: int) -> None:
    """A successful invocation operation: `status`, no body, no content-type."""
    assert resp.status_code == status, resp.text
    assert resp.content == b""
    assert "content-type" not in resp.headers


def assert_admin_error(resp: httpx.Response, status: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.content == compact({"message": message, "restate_code": None})
    assert resp.headers["content-type"] == "application/json"


def waiting_invocation(stack: LifecycleStack) -> tuple[str, str]:
    """Sends Waiter/wait and waits until it awaits its awakeable; returns (invocation id, awakeable id)."""
    label = unique("w")
    inv = stack.send("Waiter/wait", label)
    return inv, stack.awakeable(label)


def attempts(stack: LifecycleStack, label: str) -> list[float]:
    """The times of the `attempt <label> <time>` lines of a failing handler."""
    return [float(line.split()[2]) for line in stack.lines(f"attempt {label} ")]


# --- 7. cancel, kill, pause, resume, purge ------------------------------------------------------------


def test_cancel_a_running_invocation(stack: LifecycleStack) -> None:
    label, idem = unique("w"), unique("idem")
    caller = stack.in_background(lambda: stack.call("Waiter/wait", label, {"idempotency-key": idem}))
    stack.awakeable(label)
    inv = stack.server.send("Waiter/wait", label, {"idempotency-key": idem}).json()["invocationId"]  # its id
    assert_empty(stack.invocation_op(inv, "cancel"), 202)
    assert_invocation_error(caller(), 409, "cancelled", inv)
    assert_admin_error(stack.invocation_op(inv, "cancel"), 409, f"The invocation '{inv}' was already completed.")
    assert_admin_error(stack.invocation_op(inv, "kill"), 409, f"The invocation '{inv}' was already completed.")
    paused = stack.invocation_op(inv, "pause")
    assert_admin_error(paused, 409, f"The invocation '{inv}' is not running, cannot be paused.")
    resumed = stack.invocation_op(inv, "resume")
    assert_admin_error(resumed, 409, f"The invocation '{inv}' is completed, cannot be resumed.")


def test_kill_a_running_invocation(stack: LifecycleStack) -> None:
    inv, _ = waiting_invocation(stack)
    attached = stack.in_background(lambda: stack.attach(inv))
    assert_admin_error(stack.invocation_op(inv, "purge"), 409, f"The invocation '{inv}' is not yet completed.")
    assert_empty(stack.invocation_op(inv, "pause"), 202)  # HTTP-API.md: 409 "not running"; real: 202
    assert_empty(stack.invocation_op(inv, "kill"), 200)
    assert_invocation_error(attached(), 409, "killed", inv)
    resp = stack.output(inv)
    assert_invocation_error(resp, 409, "killed", inv)
    assert_expires_in_a_day(resp)


def test_purge_a_completed_invocation(stack: LifecycleStack) -> None:
    inv, awakeable = waiting_invocation(stack)
    assert_empty_202(stack.resolve(awakeable, "done"))
    assert_ok(stack.attach(inv), b'"done"', inv)
    assert_empty(stack.invocation_op(inv, "purge"), 200)
    assert stack.output(inv).content == NOT_FOUND_INGRESS
    gone = f"The requested invocation '{inv}' does not exist"
    for op in ("purge", "cancel", "kill"):
        assert_admin_error(stack.invocation_op(inv, op), 404, gone)


def test_pause_and_resume_a_backing_off_invocation(stack: LifecycleStack) -> None:
    """Broken fails every attempt and retries every 2 s (its retry policy from discovery)."""
    label = unique("b")
    inv = stack.send("Broken/fail", label)
    stack.wait_lines(f"attempt {label} ")
    assert_empty(stack.invocation_op(inv, "pause"), 202)
    # once paused, pausing again is 200 (the first pause may land while the attempt still runs)
    second = wait_until(lambda: stack.invocation_op(inv, "pause"), lambda r: r.status_code != 202, "second pause")
    assert_empty(second, 200)
    paused_at = time.time()
    # paused: the next retry (due 2 s after the first attempt) does not happen
    wait_until(lambda: time.time() - attempts(stack, label)[0], lambda age: age > 2.6, "the retry would be due")
    assert len(attempts(stack, label)) == 1
    assert stack.output(inv).content == NOT_READY
    assert_empty(stack.invocation_op(inv, "resume"), 200)
    resumed_at = time.time()
    stack.wait_lines(f"attempt {label} ", 2)
    assert attempts(stack, label)[1] - resumed_at < 1.5, "resume did not retry right away"
    assert paused_at < resumed_at
    assert_empty(stack.invocation_op(inv, "resume"), 200)  # not paused any more: still 200
    assert_empty(stack.invocation_op(inv, "kill"), 200)
    assert_invocation_error(stack.output(inv), 409, "killed", inv)


def test_cancel_of_a_backing_off_invocation_is_cooperative(stack: LifecycleStack) -> None:
    """Broken fails before its first await, so it never sees the cancel signal; kill ends it."""
    label = unique("c")
    inv = stack.send("Broken/fail", label)
    stack.wait_lines(f"attempt {label} ")
    assert_empty(stack.invocation_op(inv, "cancel"), 202)
    stack.wait_lines(f"attempt {label} ", 2)  # retries go on
    assert stack.output(inv).content == NOT_READY
    assert_empty(stack.invocation_op(inv, "kill"), 200)
    resp = stack.output(inv)
    assert_invocation_error(resp, 409, "killed", inv)
    assert_expires_in_a_day(resp)


def test_operations_on_a_scheduled_invocation(stack: LifecycleStack) -> None:
    """A delayed send is `scheduled`; cancel and kill end it (200, not 202) and it is gone (404)."""

    def scheduled() -> str:
        resp = stack.server.send("Stamp/record", unique("never"), delay="1h")
        assert resp.status_code == 202, resp.text
        inv: str = resp.json()["invocationId"]
        return inv

    inv = scheduled()
    assert stack.output(inv).content == NOT_READY
    assert_admin_error(stack.invocation_op(inv, "purge"), 409, f"The invocation '{inv}' is not yet completed.")
    assert_admin_error(
        stack.invocation_op(inv, "pause"), 409, f"The invocation '{inv}' is not running, cannot be paused."
    )
    resumed = stack.invocation_op(inv, "resume")
    assert_admin_error(resumed, 425, f"The invocation '{inv}' is either inboxed or scheduled, cannot be resumed.")
    for op in ("cancel", "kill"):
        inv = scheduled()
        assert_empty(stack.invocation_op(inv, op), 200)
        assert stack.output(inv).content == NOT_FOUND_INGRESS
    for query in ("?mode=kill", "?mode=cancel", ""):  # the deprecated DELETE: fire and forget
        deleted = scheduled()
        assert_empty(stack.admin("DELETE", f"/invocations/{deleted}{query}"), 202)
        wait_until(partial(stack.output, deleted), lambda r: r.content == NOT_FOUND_INGRESS, "scheduled one gone")
    assert not stack.lines("stamp never")


def test_invocation_operation_errors(stack: LifecycleStack) -> None:
    for op in ("cancel", "kill", "purge", "pause", "resume"):
        bad = stack.invocation_op("inv_bogus", op)
        assert_admin_error(bad, 400, "The request field 'invocation_id' is invalid. Reason: unrecognized codec version")
        bad = stack.invocation_op("bogus", op)
        assert_admin_error(bad, 400, "The request field 'invocation_id' is invalid. Reason: bad format")
        unknown = stack.invocation_op(UNKNOWN_INV, op)
        assert_admin_error(unknown, 404, f"The requested invocation '{UNKNOWN_INV}' does not exist")
    post = stack.admin("POST", f"/invocations/{UNKNOWN_INV}/cancel")
    assert post.status_code == 405 and post.content == b"" and post.headers["allow"] == "PATCH"
    bad_mode = stack.admin("DELETE", f"/invocations/{UNKNOWN_INV}?mode=bogus")
    assert bad_mode.status_code == 400
    assert bad_mode.headers["content-type"] == "text/plain; charset=utf-8"
    assert bad_mode.text == (
        "Failed to deserialize query string: mode: unknown variant `bogus`, "
        "expected one of `Cancel`, `cancel`, `Kill`, `kill`, `Purge`, `purge`"
    )


@pytest.mark.parametrize(("op", "status", "message"), [("kill", 200, "killed"), ("cancel", 202, "cancelled")])
def test_ending_an_exclusive_invocation_releases_the_lock(
    stack: LifecycleStack, op: str, status: int, message: str
) -> None:
    key = unique("rel")
    holder = stack.send(f"Locker/{key}/gated_append", "a")
    stack.awakeable(f"{key}/a")
    queued = stack.send(f"Locker/{key}/append", "b")
    assert stack.output(queued).content == NOT_READY
    assert_empty(stack.invocation_op(holder, op), status)
    assert_invocation_error(stack.attach(holder), 409, message, holder)
    assert_ok(stack.attach(queued), b'["b"]', queued)
    assert stack.lines(f"append {key} ") == [f"append {key} b"]


def invocation_row(stack: LifecycleStack, inv: str) -> dict[str, Any] | None:
    """The sys_invocation row of `inv` (None when there is none)."""
    rows = sql_rows(stack, f"SELECT * FROM sys_invocation WHERE id = '{inv}'")
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def sql_rows(stack: LifecycleStack, query: str) -> list[dict[str, Any]]:
    resp = stack.admin("POST", "/query", json={"query": query}, headers={"accept": "application/json"})
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["rows"]
    return rows


def test_purge_journal_resets_the_journal_sizes(stack: LifecycleStack) -> None:
    """Real: purge-journal of a completed invocation empties sys_journal and sets journal_size and
    journal_commands_size to 0; the rest of its row and its output stay."""
    inv, awakeable = waiting_invocation(stack)
    assert_empty_202(stack.resolve(awakeable, "done"))
    assert_ok(stack.attach(inv), b'"done"', inv)
    before = invocation_row(stack, inv)
    assert before is not None and before["journal_size"] > 0 and before["journal_commands_size"] > 0, before
    assert_empty(stack.invocation_op(inv, "purge-journal"), 200)
    after = invocation_row(stack, inv)
    assert after == {**before, "journal_size": 0, "journal_commands_size": 0}
    assert sql_rows(stack, f"SELECT index FROM sys_journal WHERE id = '{inv}'") == []
    assert_ok(stack.output(inv), b'"done"', inv)
    assert_empty(stack.invocation_op(inv, "purge-journal"), 200)  # again: nothing left, still 200


def cancel_from_a_handler(stack: LifecycleStack, inv: str) -> None:
    assert_ok(stack.call("Waiter/cancel", inv), b'"cancel sent"')


ENDINGS = [("cancel", "canceled"), ("kill", "killed"), ("handler-cancel", "canceled")]


@pytest.mark.parametrize(("op", "message"), ENDINGS)
def test_ending_an_inboxed_invocation_forgets_it(stack: LifecycleStack, op: str, message: str) -> None:
    """Real: a cancelled or killed invocation that still waited in its key's inbox is gone at once:
    its caller gets the failure, then output and attach answer 404, it has no sys_invocation row, every
    operation on it answers 404, and its idempotency key takes a new invocation."""
    key, idem = unique("inbox"), unique("idem")
    holder = stack.send(f"Locker/{key}/gated_append", "a")
    stack.awakeable(f"{key}/a")
    caller = stack.in_background(lambda: stack.call(f"Locker/{key}/append", "b", {"idempotency-key": idem}))
    # the call created the invocation (so it waits for its answer) once the invocation has a row
    query = f"SELECT id FROM sys_invocation WHERE target = 'Locker/{key}/append'"
    inv = wait_until(partial(sql_rows, stack, query), lambda rows: len(rows) == 1, "queued")[0]["id"]
    resend = partial(stack.server.send, f"Locker/{key}/append", "b", {"idempotency-key": idem})
    assert_accepted(resend(), "PreviouslyAccepted", inv)
    assert stack.output(inv).content == NOT_READY
    if op == "handler-cancel":
        cancel_from_a_handler(stack, inv)
    else:
        assert_empty(stack.invocation_op(inv, op), 200)
    assert_invocation_error(caller(), 409, message, inv)
    wait_until(partial(stack.output, inv), lambda r: r.status_code == 404, "forgotten")  # a handler's cancel is async
    assert_ingress_error(stack.output(inv), 404, "invocation not found")
    attached = stack.attach(inv)
    assert (attached.status_code, attached.content) == (404, NOT_FOUND_ATTACH)
    assert attached.headers["x-restate-id"] == inv and attached.headers["x-restate-error-source"] == "invocation"
    assert invocation_row(stack, inv) is None
    for again in ("cancel", "kill", "purge"):
        assert_admin_error(stack.invocation_op(inv, again), 404, f"The requested invocation '{inv}' does not exist")
    assert_accepted(resend(), "Accepted", inv)  # a new invocation under the same id, queued again
    assert_empty_202(stack.resolve(stack.awakeable(f"{key}/a"), "go"))
    assert_ok(stack.attach(holder), b'["a"]', holder)
    assert_ok(stack.attach(inv), b'["a", "b"]', inv)
    assert stack.lines(f"append {key} ") == [f"append {key} a", f"append {key} b"]


# --- POST /services/{name}/state ------------------------------------------------------------------------


def state_version(state: dict[str, bytes]) -> str:
    """The CLI's state version: sha256 over the sorted entries, base64url without padding."""
    digest = hashlib.sha256()
    for i, (key, value) in enumerate(sorted(state.items())):
        digest.update(struct.pack(">Q", i) + b"\x01" + key.encode() + b"\x02" + value + b"\x03")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def post_state(stack: LifecycleStack, service: str, body: dict[str, Any]) -> httpx.Response:
    return stack.admin("POST", f"/services/{service}/state", json=body)


def raw(value: Any) -> list[int]:
    """A state value as the admin API takes it: the JSON bytes as a list of byte values."""
    return list(compact(value))


def test_replace_object_state(stack: LifecycleStack) -> None:
    key = unique("st")
    assert_ok(stack.call(f"StateBox/{key}/put", {"a": 1, "b": "two"}), b'["a", "b"]')
    stale = {"object_key": key, "new_state": {"c": raw("lost")}, "version": "wrong"}
    assert_empty(post_state(stack, "StateBox", stale), 202)  # silently dropped
    current = state_version({"a": b"1", "b": b'"two"'})
    fresh = {"object_key": key, "new_state": {"c": raw("three"), "d": raw(4)}, "version": current}
    assert_empty(post_state(stack, "StateBox", fresh), 202)
    # mutations of one key apply in order: seeing the second one means the first was dropped
    wait_until(lambda: stack.call(f"StateBox/{key}/keys").content, lambda c: c == b'["c", "d"]', "new state")
    assert_ok(stack.call(f"StateBox/{key}/get", "c"), b'"three"')
    assert_ok(stack.call(f"StateBox/{key}/get", "a"), b"")
    assert_empty(post_state(stack, "StateBox", {"object_key": key, "new_state": {}}), 202)
    wait_until(lambda: stack.call(f"StateBox/{key}/keys").content, lambda c: c == b"[]", "empty state")


def test_replace_state_of_a_new_key_and_lazy_object(stack: LifecycleStack) -> None:
    key = unique("nk")
    assert_empty(post_state(stack, "LazyBox", {"object_key": key, "new_state": {"z": raw("zz")}}), 202)
    wait_until(lambda: stack.call(f"LazyBox/{key}/get", "z").content, lambda c: c == b'"zz"', "lazy state")
    assert_ok(stack.call(f"LazyBox/{key}/keys"), b'["z"]')


def test_replace_state_waits_for_the_lock(stack: LifecycleStack) -> None:
    key = unique("sl")
    holder = stack.send(f"Locker/{key}/gated_append", "a")
    gate = stack.awakeable(f"{key}/a")
    assert_empty(post_state(stack, "Locker", {"object_key": key, "new_state": {"log": raw(["admin"])}}), 202)
    assert_ok(stack.call(f"Locker/{key}/peek"), b"[]")  # queued behind the running invocation
    assert_empty_202(stack.resolve(gate, "go"))
    assert_ok(stack.attach(holder), b'["a"]', holder)
    wait_until(lambda: stack.call(f"Locker/{key}/peek").content, lambda c: c == b'["admin"]', "replaced state")


def test_replace_state_errors(stack: LifecycleStack) -> None:
    body = {"object_key": "k", "new_state": {}}
    assert_admin_error(post_state(stack, "Echo", body), 400, "Cannot modify state for service type Service")
    assert_empty(post_state(stack, "Nope", body), 202)  # real 1.7.12 does not check the service exists
    no_type = stack.admin("POST", "/services/StateBox/state", content=b"{}")
    assert no_type.status_code == 415
    assert no_type.headers["content-type"] == "text/plain; charset=utf-8"
    assert no_type.text == "Expected request with `Content-Type: application/json`"
    bad = stack.admin(
        "POST", "/services/StateBox/state", content=b'{"object_key": 1}', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "text/plain; charset=utf-8"
    assert bad.text == (
        "Failed to deserialize the JSON body into the target type: object_key: invalid type: integer `1`, "
        "expected a string at line 1 column 16"
    )


# --- 8. per-service settings from discovery ---------------------------------------------------------


def service_metadata(stack: LifecycleStack, name: str) -> dict[str, Any]:
    resp = stack.admin("GET", f"/services/{name}")
    assert resp.status_code == 200, resp.text
    meta: dict[str, Any] = resp.json()
    return meta


def test_discovered_service_settings(stack: LifecycleStack) -> None:
    retried = service_metadata(stack, "Retried")
    assert retried["retry_policy"] == {
        "initial_interval": "100ms",
        "exponentiation_factor": 1.0,
        "max_attempts": 3,
        "max_interval": "100ms",
        "on_max_attempts": "Kill",
    }
    assert [h["retry_policy"] for h in retried["handlers"]] == [{"max_attempts": None}]
    default_policy = service_metadata(stack, "Echo")["retry_policy"]
    assert default_policy == {
        "initial_interval": "500ms",
        "exponentiation_factor": 2.0,
        "max_attempts": 70,
        "max_interval": "1m",
        "on_max_attempts": "Pause",
    }
    locker = service_metadata(stack, "Locker")
    assert (locker["inactivity_timeout"], locker["abort_timeout"], locker["enable_lazy_state"]) == ("1s", "10m", False)
    assert service_metadata(stack, "LazyBox")["enable_lazy_state"] is True
    private = service_metadata(stack, "Private")
    assert private["public"] is False and [h["public"] for h in private["handlers"]] == [False]


def test_service_retry_policy_from_discovery(stack: LifecycleStack) -> None:
    """Retried: 3 attempts 100 ms apart, then the invocation is killed with the last failure."""
    label = unique("r")
    resp = stack.call("Retried/fail", label)
    assert resp.status_code == 500, resp.text
    body = resp.json()
    assert list(body) == ["code", "message", "stacktrace", "source"], body
    assert (body["code"], body["message"], body["source"]) == (500, f"Exception('retried {label}')", "invocation")
    assert body["stacktrace"].startswith("Traceback (most recent call last):")
    assert resp.headers["x-restate-error-source"] == "invocation"
    times = attempts(stack, label)
    assert len(times) == 3, times  # the default policy would make 70 attempts, then pause
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps) and sum(gaps) < 1.2, gaps  # default: 0.5 s, then 1 s


def test_ingress_private_service(stack: LifecycleStack) -> None:
    assert_ingress_error(stack.call("Private/secret", "me"), 400, "the invoked service is not public")
    assert_ok(stack.call("PrivateCaller/call", "me"), b'"secret for me"')


def test_patch_service(stack: LifecycleStack) -> None:
    resp = stack.admin("PATCH", "/services/Toggle", json={"public": False})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    meta = resp.json()
    assert meta["public"] is False and [h["public"] for h in meta["handlers"]] == [False]
    assert service_metadata(stack, "Toggle") == meta
    assert_ingress_error(stack.call("Toggle/ping"), 400, "the invoked service is not public")
    assert stack.admin("PATCH", "/services/Toggle", json={"public": True}).json()["public"] is True
    assert_ok(stack.call("Toggle/ping"), b'"pong"')

    durations = {"idempotency_retention": "2h", "journal_retention": "30m", "inactivity_timeout": "PT2M"}
    meta = stack.admin("PATCH", "/services/Toggle", json={**durations, "abort_timeout": "5 minutes"}).json()
    got = [meta[k] for k in ("idempotency_retention", "journal_retention", "inactivity_timeout", "abort_timeout")]
    assert got == ["2h", "30m", "2m", "5m"]


def test_patch_service_errors(stack: LifecycleStack) -> None:
    unknown = stack.admin("PATCH", "/services/Nope", json={"public": False})
    assert_admin_error(unknown, 404, "not found in the schema registry: service with name 'Nope'")
    wf_only = stack.admin("PATCH", "/services/Toggle", json={"workflow_completion_retention": "1h"})
    assert_admin_error(wf_only, 400, "modifying retention time for service type Service is unsupported")
    bad = stack.admin("PATCH", "/services/Toggle", json={"inactivity_timeout": "garbage"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "text/plain; charset=utf-8"
    assert bad.text.startswith("Failed to deserialize the JSON body into the target type: inactivity_timeout: ")


# --- 9. deployment versioning ----------------------------------------------------------------------


def test_invocation_stays_pinned_to_its_deployment(stack: LifecycleStack) -> None:
    """Versioned/run starts on deployment A (v1) and suspends; B (v2) then takes over the service.
    The resumed invocation still runs on A; new invocations go to B."""
    label = unique("v")
    old = stack.send("Versioned/run", label)
    gate = stack.awakeable(label)
    stack.wait_lines(f"suspended {label}")  # Versioned's inactivity_timeout is 1s
    b = ServiceProcess(
        stack.root / "logs",
        module="lifecycle",
        name="svc-lifecycle-b",
        env={"SIDE_EFFECT_FILE": str(stack.side_effects), "LIFECYCLE_SERVICES": "Versioned", "LIFECYCLE_VERSION": "v2"},
    ).start()
    try:
        registered = stack.admin("POST", "/deployments", json={"uri": b.url})
        assert registered.status_code == 201, registered.text
        new_id = registered.json()["id"]
        assert_ok(stack.call("Versioned/version"), b'"v2"')
        meta = service_metadata(stack, "Versioned")
        assert (meta["deployment_id"], meta["revision"]) == (new_id, 2)
        assert_empty_202(stack.resolve(gate, "go"))
        assert_ok(stack.attach(old), compact(f"{label} on v1"), old)
        fresh = unique("n")
        new = stack.send("Versioned/run", fresh)
        assert_empty_202(stack.resolve(stack.awakeable(fresh), "go"))
        assert_ok(stack.attach(new), compact(f"{fresh} on v2"), new)
    finally:
        b.stop()
