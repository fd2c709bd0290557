"""Invocation management through the admin app with fake partitions (HTTP-API.md 2.2, 2.3, 2.6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from restate.admin.app import AdminApp
from restate.admin.invocations import default_message
from restate.ids import InvocationId
from restate.schema import Schema
from restate.wire import InvocationOp
from tests.unit.admin.helpers import CONFIG, FakeBackend, FakePartitions, Reply, call

INV = "inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY"
INV_BYTES = InvocationId.parse(INV).to_bytes()
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def app_with(partitions: FakePartitions | None = None, timeout: float = 30.0) -> AdminApp:
    return FakeBackend(partitions=partitions or FakePartitions()).app(request_timeout_s=timeout)


def request(app: AdminApp, method: str, path: str, **kw: Any) -> Reply:
    return asyncio.run(call(app, method, path, **kw))


def assert_empty(reply: Reply, status: int) -> None:
    assert (reply.status, reply.body) == (status, b"")
    assert reply.headers == {"content-length": "0"}


@pytest.mark.parametrize(
    ("segment", "op"),
    [
        ("cancel", "cancel"),
        ("kill", "kill"),
        ("pause", "pause"),
        ("resume", "resume"),
        ("purge", "purge"),
        ("purge-journal", "purge_journal"),
    ],
)
@pytest.mark.parametrize("status", [200, 202])
def test_success_has_no_body_and_no_content_type(segment: str, op: InvocationOp, status: int) -> None:
    fake = FakePartitions(status=status)
    reply = request(app_with(fake), "PATCH", f"/v4/invocations/{INV}/{segment}")
    assert_empty(reply, status)
    assert fake.managed == [(INV_BYTES, op)]


def test_errors_carry_the_partition_message() -> None:
    message = f"The invocation '{INV}' was already completed."
    reply = request(app_with(FakePartitions(status=409, message=message)), "PATCH", f"/invocations/{INV}/cancel")
    assert (reply.status, reply.headers["content-type"]) == (409, JSON)
    assert reply.body == f'{{"message":"{message}","restate_code":null}}'.encode()


@pytest.mark.parametrize(
    ("segment", "status", "message"),
    [
        ("purge", 404, f"The requested invocation '{INV}' does not exist"),
        ("kill", 409, f"The invocation '{INV}' was already completed."),
        ("purge", 409, f"The invocation '{INV}' is not yet completed."),
        ("pause", 409, f"The invocation '{INV}' is not running, cannot be paused."),
        ("resume", 409, f"The invocation '{INV}' is completed, cannot be resumed."),
        ("resume", 425, f"The invocation '{INV}' is either inboxed or scheduled, cannot be resumed."),
    ],
)
def test_errors_without_a_partition_message_use_the_real_texts(segment: str, status: int, message: str) -> None:
    reply = request(app_with(FakePartitions(status=status)), "PATCH", f"/invocations/{INV}/{segment}")
    assert (reply.status, reply.json()) == (status, {"message": message, "restate_code": None})


def test_default_messages_cover_every_op() -> None:
    for op in ("cancel", "kill", "pause", "resume", "purge", "purge_journal"):
        assert INV in default_message(op, 409, INV)  # type: ignore[arg-type]


@pytest.mark.parametrize(("bad", "reason"), [("garbage", "bad format"), ("inv_bogus", "unrecognized codec version")])
def test_bad_id_is_400_json(bad: str, reason: str) -> None:
    fake = FakePartitions()
    reply = request(app_with(fake), "PATCH", f"/invocations/{bad}/cancel")
    assert (reply.status, reply.headers["content-type"]) == (400, JSON)
    assert reply.json() == {
        "message": f"The request field 'invocation_id' is invalid. Reason: {reason}",
        "restate_code": None,
    }
    assert fake.managed == []


@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "DELETE"])
def test_only_patch(method: str) -> None:
    reply = request(app_with(), method, f"/invocations/{INV}/cancel")
    assert (reply.status, reply.body, reply.headers["allow"]) == (405, b"", "PATCH")
    assert "content-type" not in reply.headers


def test_routing_failure_is_503() -> None:
    reply = request(app_with(FakePartitions(fail_with=ConnectionError("down"))), "PATCH", f"/invocations/{INV}/kill")
    assert reply.status == 503
    assert reply.json()["message"] == "Error when routing the request internally. Reason: down"


def test_partition_timeout_is_503() -> None:
    reply = request(app_with(FakePartitions(hang=True), timeout=0.05), "PATCH", f"/invocations/{INV}/kill")
    assert reply.status == 503
    assert reply.json()["message"].startswith("Error when routing the request internally. Reason: ")


def test_unconnected_partitions_are_503() -> None:
    reply = request(AdminApp(Schema(), CONFIG), "PATCH", f"/invocations/{INV}/kill")
    assert reply.status == 503
    assert reply.json()["message"].endswith("Reason: the partitions are not connected")


def test_resume_on_another_deployment_is_refused() -> None:
    fake = FakePartitions()
    reply = request(app_with(fake), "PATCH", f"/invocations/{INV}/resume?deployment=dp_12PgsFJ82wRXepxIaMzIdLr")
    assert reply.status == 400
    assert fake.managed == []


def test_restart_as_new_is_not_supported() -> None:
    reply = request(app_with(), "PATCH", f"/invocations/{INV}/restart-as-new")
    assert (reply.status, reply.headers["content-type"]) == (501, JSON)


# --- deprecated DELETE ------------------------------------------------------------------------------------------


def _delete(path: str, fake: FakePartitions) -> Reply:
    async def scenario() -> Reply:
        reply = await call(app_with(fake, timeout=0.2), "DELETE", path)
        for _ in range(5):
            await asyncio.sleep(0)  # let the fire-and-forget request go out
        return reply

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("query", "op"),
    [
        ("", "cancel"),
        ("?mode=kill", "kill"),
        ("?mode=Kill", "kill"),
        ("?mode=purge", "purge"),
        ("?mode=Cancel", "cancel"),
    ],
)
def test_delete_is_fire_and_forget(query: str, op: InvocationOp) -> None:
    fake = FakePartitions(hang=True)  # never answers: the 202 does not wait for it
    assert_empty(_delete(f"/invocations/{INV}{query}", fake), 202)
    assert fake.managed == [(INV_BYTES, op)]


def test_delete_ignores_the_outcome() -> None:
    fake = FakePartitions(status=404, fail_with=ConnectionError("down"))
    assert_empty(_delete(f"/invocations/{INV}?mode=kill", fake), 202)


def test_delete_with_a_bad_mode_is_400_text() -> None:
    fake = FakePartitions()
    reply = _delete("/invocations/garbage?mode=bogus", fake)  # the query is checked before the id
    assert (reply.status, reply.headers["content-type"]) == (400, TEXT)
    assert reply.body == (
        b"Failed to deserialize query string: mode: unknown variant `bogus`, expected one of "
        b"`Cancel`, `cancel`, `Kill`, `kill`, `Purge`, `purge`"
    )
    assert fake.managed == []


def test_delete_with_a_bad_id_is_400_json() -> None:
    reply = _delete("/invocations/garbage?mode=kill", FakePartitions())
    assert (reply.status, reply.json()["message"]) == (
        400,
        "The request field 'invocation_id' is invalid. Reason: bad format",
    )
