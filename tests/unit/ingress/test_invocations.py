"""Attach, output, lookup and awakeables through the ASGI app with a fake dispatcher (HTTP-API.md 1.4-1.7)."""

from __future__ import annotations

import asyncio
import json

import pytest

from restate.ids import InvocationId, awakeable_id, partition_key_for
from restate.ingress import errors, routing
from restate.ingress.app import IngressApp
from restate.ingress.responses import rfc3339_millis
from restate.wire import Failure, Outcome
from tests.unit.ingress.fixtures import FakeDispatcher, Reply, drive

JSON = ("content-type", "application/json")
CORS = ["vary", "access-control-allow-credentials"]
INV = "inv_1arJqkEd7c2K5D6QZl1EpZ9Swb2nQWoDR4"
SIGN = "sign_1Hi2oi1D8D4o3dZxlOqIDWtBOufldrX1ZAAAAEQ"
EXPIRES_MS = 1_795_359_923_121  # 2026-11-22T15:05:23.121Z
EXPIRES = "2026-11-22T15:05:23.121+00:00"


def run(
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    dispatcher: FakeDispatcher | None = None,
) -> Reply:
    app = IngressApp(dispatcher if dispatcher is not None else FakeDispatcher(), 1024)
    return asyncio.run(drive(app, method, target, body, headers))


def stored(**kw: object) -> FakeDispatcher:
    """A dispatcher whose answers replay a stored result, as the partition answers attach/output."""
    fake = FakeDispatcher(expires_at_ms=EXPIRES_MS, replayed=True)
    for name, value in kw.items():
        setattr(fake, name, value)
    return fake


def ingress_error(reply: Reply, status: int, message: str) -> None:
    assert (reply.status, json.loads(reply.body)) == (status, {"code": status, "message": message, "source": "ingress"})
    assert reply.names == ["x-restate-error-source", "content-type", *CORS, "content-length"]


def idem_id(service: str, handler: str, key: str | None, idem: str) -> bytes:
    return routing.invocation_id_for(service, handler, key, idem).to_bytes()


# --- attach and output by id -------------------------------------------------------------------------------------


def test_rfc3339_millis() -> None:
    assert rfc3339_millis(EXPIRES_MS) == EXPIRES


@pytest.mark.parametrize(
    ("target", "wait"),
    [
        (f"/restate/invocation/{INV}/attach", True),
        (f"/restate/invocation/{INV}/output", False),
        (f"/restate/attach/{INV}", True),
        (f"/restate/output/{INV}", False),
    ],
)
def test_by_id_replays_the_stored_result(target: str, wait: bool) -> None:
    fake = stored(outcome=Outcome(value=b'"Hello Idem!"'))
    reply = run("GET", target, dispatcher=fake)
    assert fake.outputs == [(InvocationId.parse(INV).to_bytes(), wait)]
    assert (reply.status, reply.body) == (200, b'"Hello Idem!"')
    assert reply.names == ["x-restate-id", "idempotency-expires", "content-type", *CORS, "content-length"]
    assert reply.header("x-restate-id") == INV
    assert reply.header("idempotency-expires") == EXPIRES
    assert reply.header("content-type") == "application/json"
    assert reply.header("content-length") == "13"


def test_a_live_attach_has_no_idempotency_expires() -> None:
    reply = run("GET", f"/restate/attach/{INV}", dispatcher=FakeDispatcher(expires_at_ms=EXPIRES_MS))
    assert reply.names == ["x-restate-id", "content-type", *CORS, "content-length"]


def test_output_not_ready_is_470() -> None:
    ingress_error(
        run("GET", f"/restate/invocation/{INV}/output", dispatcher=FakeDispatcher(output_answer="not_ready")),
        470,
        "the invocation exists but has not completed yet",
    )


@pytest.mark.parametrize(
    "target",
    [f"/restate/invocation/{INV}/output", f"/restate/output/{INV}", "/restate/workflow/Signup/nokey/output"],
)
def test_output_of_an_unknown_invocation_is_404_from_the_ingress(target: str) -> None:
    ingress_error(run("GET", target, dispatcher=FakeDispatcher(output_answer="not_found")), 404, "invocation not found")


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", f"/restate/invocation/{INV}/attach", b""),
        ("GET", f"/restate/attach/{INV}", b""),
        ("POST", "/restate/attach", f'{{"target":"invocation","invocationId":"{INV}"}}'.encode()),
    ],
)
def test_attach_to_an_unknown_invocation_is_404_from_the_invocation_side(method: str, target: str, body: bytes) -> None:
    reply = run(method, target, body, [JSON], FakeDispatcher(output_answer="not_found"))
    assert (reply.status, reply.body) == (404, b'{"code":404,"message":"not found","source":"invocation"}')
    assert reply.names == ["x-restate-id", "x-restate-error-source", "content-type", *CORS, "content-length"]
    assert (reply.header("x-restate-id"), reply.header("x-restate-error-source")) == (INV, "invocation")


def test_attach_to_a_never_run_workflow_names_the_run_id() -> None:
    fake = FakeDispatcher(output_answer="not_found")
    reply = run("GET", "/restate/workflow/Signup/never/attach", dispatcher=fake)
    assert (reply.status, json.loads(reply.body)["source"]) == (404, "invocation")
    run_id = routing.invocation_id_for("Signup", "run", "never", None, workflow_run=True)
    assert reply.header("x-restate-id") == str(run_id)
    assert fake.outputs == [(run_id.to_bytes(), True)]


def test_a_failed_invocation_replays_its_failure() -> None:
    reply = run(
        "GET",
        f"/restate/invocation/{INV}/output",
        dispatcher=stored(outcome=Outcome(failure=Failure(500, "nope, rejected"))),
    )
    assert reply.status == 500
    assert reply.body == b'{"code":500,"message":"nope, rejected","source":"invocation"}'
    assert reply.names == [
        "x-restate-id",
        "idempotency-expires",
        "x-restate-error-source",
        "content-type",
        *CORS,
        "content-length",
    ]
    assert reply.header("x-restate-error-source") == "invocation"


def test_empty_output_by_id_has_no_content_type() -> None:
    reply = run("GET", f"/restate/attach/{INV}", dispatcher=FakeDispatcher(outcome=Outcome(value=b"")))
    assert reply.names == ["x-restate-id", *CORS, "content-length"]


def test_dispatcher_failure_is_a_retryable_503() -> None:
    reply = run("GET", f"/restate/attach/{INV}", dispatcher=FakeDispatcher(fail_with=ConnectionError("down")))
    ingress_error(reply, 503, "internal routing error: down. You may safely retry the request.")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_attach_and_output_by_path_are_get_only(method: str) -> None:
    ingress_error(run(method, f"/restate/attach/{INV}"), 405, "method not allowed")
    ingress_error(run(method, "/restate/workflow/Signup/u1/attach"), 405, "method not allowed")


# --- by idempotency key and workflow ---------------------------------------------------------------------------


def test_by_idempotency_key_uses_the_id_of_the_idempotent_call() -> None:
    fake = stored()
    run("POST", "/Greeter/greet", b'"Idem"', [JSON, ("idempotency-key", "idem-1")], fake)
    run("GET", "/restate/invocation/Greeter/greet/idem-1/output", dispatcher=fake)
    run("POST", "/Counter/k1/add", b"10", [JSON, ("idempotency-key", "c-1")], fake)
    run("GET", "/restate/invocation/Counter/k1/add/c-1/attach", dispatcher=fake)
    assert fake.outputs == [
        (fake.requests[0].invocation_id, False),
        (fake.requests[1].invocation_id, True),
    ]
    assert InvocationId.from_bytes(fake.outputs[1][0]).partition_key == partition_key_for("k1")


def test_by_idempotency_key_takes_the_content_type_of_the_handler() -> None:
    fake = stored(outcome=Outcome(value=b"x"))
    assert run("GET", "/restate/invocation/Greeter/raw/k/output", dispatcher=fake).header("content-type") is None
    fake = stored(outcome=Outcome(value=b""))
    reply = run("GET", "/restate/invocation/Greeter/emptyct/k/output", dispatcher=fake)
    assert reply.header("content-type") == "text/plain"


def test_by_idempotency_key_of_an_unknown_service_is_404() -> None:
    ingress_error(
        run("GET", "/restate/invocation/Nope/greet/k/output"),
        404,
        "service 'Nope' not found, make sure to register the service before calling it.",
    )


def test_workflow_attach_uses_the_run_id() -> None:
    fake = stored(outcome=Outcome(value=b'"verified"'))
    run("POST", "/Signup/u1/run/send", b'"a@b.c"', [JSON], fake)
    attach = run("GET", "/restate/workflow/Signup/u1/attach", dispatcher=fake)
    output = run("GET", "/restate/workflow/Signup/u1/output", dispatcher=fake)
    run_id = fake.requests[0].invocation_id
    assert fake.outputs == [(run_id, True), (run_id, False)]
    for reply in (attach, output):
        assert reply.header("x-restate-id") == str(InvocationId.from_bytes(run_id))
        assert reply.header("idempotency-expires") == EXPIRES
        assert reply.header("content-type") == "application/json"


def test_workflow_of_an_unknown_service_still_asks_the_partition() -> None:
    fake = FakeDispatcher(output_answer="not_found")
    ingress_error(run("GET", "/restate/workflow/Nope/k/output", dispatcher=fake), 404, "invocation not found")
    assert len(fake.outputs) == 1


# --- idempotent calls -----------------------------------------------------------------------------------------


def test_a_repeated_idempotent_call_replays_with_idempotency_expires() -> None:
    headers = [JSON, ("idempotency-key", "idem-1")]
    first = run("POST", "/Greeter/greet", b'"Idem"', headers, FakeDispatcher(expires_at_ms=EXPIRES_MS))
    second = run("POST", "/Greeter/greet", b'"Different"', headers, stored())
    assert first.names == ["x-restate-id", "content-type", *CORS, "content-length"]
    assert second.names == ["x-restate-id", "idempotency-expires", "content-type", *CORS, "content-length"]
    assert first.header("x-restate-id") == second.header("x-restate-id")
    assert second.header("idempotency-expires") == EXPIRES


def test_a_second_workflow_run_is_409_with_the_run_id() -> None:
    failure = Outcome(failure=Failure(409, "the workflow method was already invoked"))
    fake = FakeDispatcher(outcome=failure, replayed=True)
    reply = run("POST", "/Signup/u1/run", b'"a@b.c"', [JSON], fake)
    assert reply.status == 409
    assert reply.body == b'{"code":409,"message":"the workflow method was already invoked","source":"invocation"}'
    assert reply.names == ["x-restate-id", "x-restate-error-source", "content-type", *CORS, "content-length"]
    assert reply.header("x-restate-id") == str(InvocationId.from_bytes(fake.requests[0].invocation_id))


# --- target by body ---------------------------------------------------------------------------------------------


def test_lookup_computes_the_id_locally() -> None:
    fake = FakeDispatcher()
    bodies = [
        (b'{"target":"workflow","workflowName":"Signup","workflowKey":"u1"}', "Signup", "run", "u1", None),
        (
            b'{"target":"idempotentInvocation","service":"Greeter","handler":"greet","idempotencyKey":"idem-1"}',
            "Greeter",
            "greet",
            None,
            "idem-1",
        ),
        (
            b'{"target":"idempotentInvocation","service":"Counter","key":"k1","handler":"add","idempotencyKey":"c-1"}',
            "Counter",
            "add",
            "k1",
            "c-1",
        ),
    ]
    for body, service, handler, key, idem in bodies:
        reply = run("POST", "/restate/lookup", body, [JSON], fake)
        expected = routing.invocation_id_for(service, handler, key, idem, workflow_run=idem is None)
        assert reply.status == 200
        assert reply.body == f'{{"invocationId":"{expected}"}}'.encode()
        assert reply.names == ["content-type", *CORS, "content-length"]
        assert reply.header("content-length") == "57"
    reply = run("POST", "/restate/lookup", f'{{"target":"invocation","invocationId":"{INV}"}}'.encode(), [JSON], fake)
    assert json.loads(reply.body) == {"invocationId": INV}
    assert fake.outputs == []


@pytest.mark.parametrize(("verb", "wait"), [("attach", True), ("output", False)])
def test_attach_and_output_by_body(verb: str, wait: bool) -> None:
    fake = stored(outcome=Outcome(value=b'"Hello Idem!"'))
    body = b'{"target":"idempotentInvocation","service":"Greeter","handler":"greet","idempotencyKey":"idem-1"}'
    reply = run("POST", f"/restate/{verb}", body, [JSON], fake)
    assert fake.outputs == [(idem_id("Greeter", "greet", None, "idem-1"), wait)]
    assert (reply.status, reply.body) == (200, b'"Hello Idem!"')
    assert reply.header("idempotency-expires") == EXPIRES
    reply = run("POST", f"/restate/{verb}", f'{{"target":"invocation","invocationId":"{INV}"}}'.encode(), [JSON], fake)
    assert fake.outputs[-1] == (InvocationId.parse(INV).to_bytes(), wait)


@pytest.mark.parametrize("verb", ["attach", "output", "lookup"])
def test_target_routes_are_post_only(verb: str) -> None:
    ingress_error(run("GET", f"/restate/{verb}"), 405, "method not allowed")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'{"target":"bogus"}',
            "unknown variant `bogus`, expected one of `workflow`, `idempotentInvocation`, `invocation` "
            "at line 1 column 17",
        ),
        (b"", "EOF while parsing a value at line 1 column 0"),
        # the variant's fields are read from serde's buffer: no position (real 1.7.12)
        (b'{"target":"workflow","workflowName":"S"}', "missing field `workflowKey`"),
        # a lone surrogate is refused like serde_json does (it was an unhandled exception)
        (b'"\\ud800"', "unexpected end of hex escape at line 1 column 8"),
        (
            b'{"target":"invocation","invocationId":"\\udc00"}',
            "lone leading surrogate in hex escape at line 1 column 45",
        ),
        (b'{"target":"workflow","x":' + b"[" * 200, "recursion limit exceeded at line 1 column 152"),
        (b"[" * 200, "invalid type: sequence, expected variant identifier at line 1 column 1"),
    ],
)
def test_malformed_target_body_is_500(body: bytes, detail: str) -> None:
    ingress_error(run("POST", "/restate/lookup", body, [JSON]), 500, f"cannot read body: invalid lookup body: {detail}")
    ingress_error(
        run("POST", "/restate/attach", body, [JSON]), 500, f"cannot read body: invalid request body: {detail}"
    )


def test_bad_invocation_id_in_the_body() -> None:
    reply = run("POST", "/restate/output", b'{"target":"invocation","invocationId":"inv_bogus"}', [JSON])
    ingress_error(reply, 400, "bad invocation id 'inv_bogus': unrecognized codec version")


def test_scoped_targets_are_refused() -> None:
    body = b'{"target":"workflow","scope":"s1","workflowName":"Signup","workflowKey":"u1"}'
    fake = FakeDispatcher()
    ingress_error(
        run("POST", "/restate/attach", body, [JSON], fake), 400, "scoped invocations require vqueues to be enabled"
    )
    assert fake.outputs == []


# --- awakeables ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/restate/awakeables", "/restate/a"])
def test_resolve_awakeable(prefix: str) -> None:
    fake = FakeDispatcher()
    reply = run("POST", f"{prefix}/{SIGN}/resolve", b'"yes"', [JSON], fake)
    assert (reply.status, reply.body) == (202, b"")
    assert reply.names == [*CORS, "content-length"]
    assert reply.header("content-length") == "0"
    invocation_id = InvocationId(2174579511402434442, fake.awakeables[0][0][8:])
    assert awakeable_id(invocation_id, 17) == SIGN
    assert fake.awakeables == [(invocation_id.to_bytes(), 17, Outcome(value=b'"yes"'))]


@pytest.mark.parametrize("prefix", ["/restate/awakeables", "/restate/a"])
def test_reject_awakeable(prefix: str) -> None:
    fake = FakeDispatcher()
    reply = run("POST", f"{prefix}/{SIGN}/reject", b"nope, rejected", [("content-type", "text/plain")], fake)
    assert (reply.status, reply.body) == (202, b"")
    assert fake.awakeables[0][1:] == (17, Outcome(failure=Failure(500, "nope, rejected")))


def test_awakeable_dispatch_failure_is_503() -> None:
    reply = run("POST", f"/restate/a/{SIGN}/resolve", b"1", [JSON], FakeDispatcher(fail_with=ConnectionError("down")))
    ingress_error(
        reply,
        503,
        "internal routing error: down. Submitting the request again may result in executing the operation twice.",
    )


def test_bad_awakeable_ids_never_reach_the_partition() -> None:
    fake = FakeDispatcher()
    ingress_error(
        run("POST", "/restate/a/sign_bogus/resolve", b"x", dispatcher=fake),
        400,
        "bad awakeable id 'sign_bogus': unrecognized codec version",
    )
    ingress_error(
        run("POST", "/restate/a/garbage/reject", b"x", dispatcher=fake), 400, "bad awakeable id 'garbage': bad format"
    )
    assert fake.awakeables == []


def test_failure_body_field_order_with_a_stacktrace() -> None:
    err = errors.invocation_failure(500, "boom", [("k", "v")], "Traceback ...")
    assert err.body() == (
        b'{"code":500,"message":"boom","stacktrace":"Traceback ...","metadata":{"k":"v"},"source":"invocation"}'
    )
    assert b"stacktrace" not in errors.invocation_failure(500, "boom").body()


def test_the_sdk_stacktrace_is_shown_apart_from_the_message() -> None:
    failure = Failure(500, "Exception('x')", stacktrace="Traceback (most recent call last): ...")
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON], FakeDispatcher(outcome=Outcome(failure=failure)))
    assert list(json.loads(reply.body)) == ["code", "message", "stacktrace", "source"]
    assert json.loads(reply.body)["stacktrace"] == "Traceback (most recent call last): ..."
