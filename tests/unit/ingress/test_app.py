"""The ASGI app driven with hand-written receive/send and a fake dispatcher (HTTP-API.md 1.1-1.3, 1.8, 1.10)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from restate.ids import InvocationId, partition_key_for
from restate.ingress.app import IngressApp, rfc3339_nanos
from restate.wire import Failure, Outcome
from tests.unit.ingress.fixtures import SCHEMA, FakeDispatcher, Reply, drive

JSON = ("content-type", "application/json")
CORS = ["vary", "access-control-allow-credentials"]
VARY = "origin, access-control-request-method, access-control-request-headers"
VALID_SIGN = "sign_1Hi2oi1D8D4o3dZxlOqIDWtBOufldrX1ZAAAAEQ"
VALID_INV = "inv_1arJqkEd7c2K5D6QZl1EpZ9Swb2nQWoDR4"


def run(
    method: str,
    target: str,
    body: bytes | list[bytes] = b"",
    headers: list[tuple[str, str]] | None = None,
    dispatcher: FakeDispatcher | None = None,
    limit: int = 1024,
) -> Reply:
    app = IngressApp(dispatcher if dispatcher is not None else FakeDispatcher(), limit)
    return asyncio.run(drive(app, method, target, body, headers))


def ingress_error(reply: Reply, status: int, message: str) -> None:
    assert reply.status == status
    assert (
        reply.body
        == json.dumps({"code": status, "message": message, "source": "ingress"}, separators=(",", ":")).encode()
    )
    assert reply.names == ["x-restate-error-source", "content-type", *CORS, "content-length"]
    assert reply.header("x-restate-error-source") == "ingress"
    assert reply.header("content-type") == "application/json"
    assert reply.header("vary") == VARY
    assert reply.header("access-control-allow-credentials") == "true"
    assert reply.header("content-length") == str(len(reply.body))


# --- call -----------------------------------------------------------------------------------------------------


def test_call_answers_the_raw_value_with_the_reference_headers() -> None:
    fake = FakeDispatcher(outcome=Outcome(value=b'"Hello Alice!"'))
    reply = run("POST", "/Greeter/greet", b'"Alice"', [JSON], fake)
    assert reply.status == 200
    assert reply.body == b'"Hello Alice!"'
    assert reply.names == ["x-restate-id", "content-type", *CORS, "content-length"]
    assert reply.header("content-length") == "14"
    request = fake.requests[0]
    assert reply.header("x-restate-id") == str(InvocationId.from_bytes(request.invocation_id))
    assert request.input == b'"Alice"'
    assert request.target.service_ty == "service" and not request.target.exclusive
    assert request.idempotency_key is None and request.execute_at_ms is None


def test_call_echoes_the_origin() -> None:
    reply = run("POST", "/Greeter/greet", b'"cors"', [JSON, ("Origin", "http://example.com")])
    assert reply.names == ["x-restate-id", "content-type", *CORS, "access-control-allow-origin", "content-length"]
    assert reply.header("access-control-allow-origin") == "http://example.com"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_call_without_body_or_content_type(method: str) -> None:
    fake = FakeDispatcher()
    assert run(method, "/Greeter/greet", dispatcher=fake).status == 200
    assert run(method, "/Greeter/noinput", dispatcher=fake).status == 200
    assert [r.input for r in fake.requests] == [b"", b""]


def test_call_content_type_parameters_are_ignored() -> None:
    assert run("POST", "/Greeter/greet", b'"cs"', [("content-type", "application/json; charset=utf-8")]).status == 200


def test_keyed_targets() -> None:
    fake = FakeDispatcher()
    run("POST", "/Counter/a%2Fb/add", b"1", [JSON], fake)
    run("POST", "/Counter//add", b"1", [JSON], fake)
    run("POST", "/Counter/k1/get", dispatcher=fake)
    run("POST", "/Signup/u1/run", b'"a@b.c"', [JSON], fake)
    run("POST", "/restate/call/Counter/k1/add/", b"1", [JSON], fake)
    targets = [r.target for r in fake.requests]
    assert [(t.key, t.service_ty, t.exclusive) for t in targets] == [
        ("a/b", "virtual_object", True),
        ("", "virtual_object", True),
        ("k1", "virtual_object", False),
        ("u1", "workflow", True),
        ("k1", "virtual_object", True),
    ]
    assert InvocationId.from_bytes(fake.requests[0].invocation_id).partition_key == partition_key_for("a/b")


def test_workflow_run_ids_are_deterministic() -> None:
    fake = FakeDispatcher()
    first = run("POST", "/Signup/u1/run/send", b'"a"', [JSON], fake)
    second = run("POST", "/Signup/u1/run", b'"a"', [JSON], fake)
    assert first.header("x-restate-id") == second.header("x-restate-id")


def test_idempotency_key() -> None:
    fake = FakeDispatcher()
    headers = [JSON, ("idempotency-key", "idem-1")]
    first = run("POST", "/Greeter/greet", b'"Idem"', headers, fake)
    second = run("POST", "/Greeter/greet/send", b'"Other"', headers, fake)
    assert first.header("x-restate-id") == second.header("x-restate-id")
    assert [r.idempotency_key for r in fake.requests] == ["idem-1", "idem-1"]
    assert InvocationId.from_bytes(fake.requests[0].invocation_id).partition_key == partition_key_for("idem-1")
    run("POST", "/Counter/k1/add", b"10", [JSON, ("idempotency-key", "c-1")], fake)
    assert InvocationId.from_bytes(fake.requests[2].invocation_id).partition_key == partition_key_for("k1")


def test_headers_forwarded_to_the_handler() -> None:
    fake = FakeDispatcher()
    headers = [
        ("host", "localhost:8080"),
        ("connection", "keep-alive"),
        JSON,
        ("idempotency-key", "k"),
        ("idempotency-expires", "x"),
        ("x-custom", "hello"),
    ]
    run("POST", "/Greeter/greet/send?delay=2s&x=1", b'"a"', headers, fake)
    assert fake.requests[0].headers == [
        ("x-restate-ingress-path", "/Greeter/greet/send?delay=2s&x=1"),
        ("content-type", "application/json"),
        ("x-custom", "hello"),
    ]


def test_failure_outcome() -> None:
    fake = FakeDispatcher(outcome=Outcome(failure=Failure(409, "boom: x")))
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON], fake)
    assert reply.status == 409
    assert reply.body == b'{"code":409,"message":"boom: x","source":"invocation"}'
    assert reply.names == ["x-restate-id", "x-restate-error-source", "content-type", *CORS, "content-length"]
    assert reply.header("x-restate-error-source") == "invocation"
    assert reply.header("x-restate-id") == str(InvocationId.from_bytes(fake.requests[0].invocation_id))


def test_failure_with_metadata() -> None:
    failure = Failure(422, "with meta", [("field", "f1"), ("reason", "bad-input")])
    reply = run("POST", "/Greeter/greet", b'"f1"', [JSON], FakeDispatcher(outcome=Outcome(failure=failure)))
    assert reply.status == 422
    assert (
        reply.body
        == b'{"code":422,"message":"with meta","metadata":{"field":"f1","reason":"bad-input"},"source":"invocation"}'
    )


@pytest.mark.parametrize(
    ("code", "status", "body_code"),
    [(470, 470, 470), (0, 500, 0), (99, 500, 99), (101, 500, 101), (999, 999, 999), (70000, 500, 500)],
)
def test_failure_codes_that_are_not_usable_statuses(code: int, status: int, body_code: int) -> None:
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON], FakeDispatcher(outcome=Outcome(failure=Failure(code, "m"))))
    assert reply.status == status
    assert json.loads(reply.body)["code"] == body_code


def test_output_content_type_rules() -> None:
    empty = Outcome(value=b"")
    reply = run("POST", "/Greeter/empty", dispatcher=FakeDispatcher(outcome=empty))
    assert (reply.status, reply.body, reply.header("content-type")) == (200, b"", None)
    assert reply.names == ["x-restate-id", *CORS, "content-length"]
    assert (
        run("POST", "/Greeter/emptyct", dispatcher=FakeDispatcher(outcome=empty)).header("content-type") == "text/plain"
    )
    assert (
        run("POST", "/Greeter/raw", dispatcher=FakeDispatcher(outcome=Outcome(value=b"x"))).header("content-type")
        is None
    )


def test_dispatcher_failure_is_503() -> None:
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON], FakeDispatcher(fail_with=ConnectionError("down")))
    assert reply.status == 503
    assert json.loads(reply.body)["message"].startswith("internal routing error: down.")


# --- send -----------------------------------------------------------------------------------------------------


def test_send_answers_202() -> None:
    fake = FakeDispatcher()
    reply = run("POST", "/Counter/k1/add/send", b"2", [JSON], fake)
    inv = str(InvocationId.from_bytes(fake.requests[0].invocation_id))
    assert reply.status == 202
    assert reply.body == f'{{"invocationId":"{inv}","status":"Accepted"}}'.encode()
    assert reply.names == ["content-type", "x-restate-id", *CORS, "content-length"]
    assert reply.header("x-restate-id") == inv
    assert reply.header("content-length") == "77"


def test_send_previously_accepted() -> None:
    reply = run("POST", "/restate/send/Greeter/greet", b'"x"', [JSON], FakeDispatcher(previously_accepted=True))
    assert json.loads(reply.body)["status"] == "PreviouslyAccepted"


def test_delayed_send_carries_the_execution_time() -> None:
    fake = FakeDispatcher()
    before = time.time_ns() // 1_000_000
    reply = run("POST", "/Counter/k1/add/send?delay=2s", b"3", [JSON], fake)
    execute_at = fake.requests[0].execute_at_ms
    assert execute_at is not None and before + 2000 <= execute_at <= time.time_ns() // 1_000_000 + 2000
    doc = json.loads(reply.body)
    assert list(doc) == ["invocationId", "executionTime", "status"]
    assert doc["executionTime"] == rfc3339_nanos(execute_at)
    assert len(reply.body) == 126
    partition_answer = FakeDispatcher(execute_at_ms=1_795_000_000_123)
    reply = run("POST", "/Greeter/greet/send?delay=PT1S", b'"D"', [JSON], partition_answer)
    assert json.loads(reply.body)["executionTime"] == "2026-11-18T11:06:40.123000000Z"


def test_rfc3339_nanos() -> None:
    assert rfc3339_nanos(1_795_273_519_195) == "2026-11-21T15:05:19.195000000Z"


def test_bare_integer_delay_is_milliseconds() -> None:
    fake = FakeDispatcher()
    before = time.time_ns() // 1_000_000
    assert run("POST", "/Greeter/greet/send?delay=1000", b'"D"', [JSON], fake).status == 202
    assert fake.requests[0].execute_at_ms is not None and fake.requests[0].execute_at_ms >= before + 1000


# --- errors of the reference transcript ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "body", "headers", "status", "message"),
    [
        (
            "POST",
            "/Greeter/greet",
            b'"Alice"',
            [("content-type", "application/x-www-form-urlencoded")],
            400,
            "input validation error: Content-type 'application/x-www-form-urlencoded' does not match "
            "'application/json'",
        ),
        (
            "POST",
            "/Greeter/greet",
            b'"tp"',
            [("content-type", "text/plain")],
            400,
            "input validation error: Content-type 'text/plain' does not match 'application/json'",
        ),
        (
            "POST",
            "/Greeter/noinput",
            b'"x"',
            [JSON],
            400,
            "input validation error: Expected body and content-type to be empty, but wasn't with content-type "
            "'Some(\"application/json\")'",
        ),
        (
            "POST",
            "/Greeter/nope",
            b'"Alice"',
            [JSON],
            404,
            "the service 'Greeter' exists, but the handler 'nope' was not found, check that the handler exists in "
            "the latest registered service version.",
        ),
        (
            "POST",
            "/Nope/greet",
            b'"Alice"',
            [JSON],
            404,
            "service 'Nope' not found, make sure to register the service before calling it.",
        ),
        ("PUT", "/Greeter/greet", b'"Alice"', [JSON], 405, "method not allowed"),
        ("DELETE", "/Greeter/greet", b"", [], 405, "method not allowed"),
        (
            "POST",
            "/Counter/add",
            b"5",
            [JSON],
            400,
            "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
        ),
        (
            "POST",
            "/Greeter/k1/greet",
            b'"x"',
            [JSON],
            400,
            "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler",
        ),
        ("POST", "/Secret/get", b"", [], 400, "the invoked service is not public"),
        (
            "POST",
            "/Greeter/greet/send?delay=bogus",
            b'"D"',
            [JSON],
            400,
            'bad delay query parameter, must be a ISO8601 duration: failed to parse input in the "friendly" duration '
            "format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no "
            "integer was found",
        ),
        (
            "POST",
            "/Greeter/greet?delay=1s",
            b'"D"',
            [JSON],
            400,
            "cannot use the delay query parameter with calls. The delay is supported only with sends",
        ),
        (
            "POST",
            "/Signup/u1/run",
            b'"a@b.c"',
            [JSON, ("idempotency-key", "x")],
            400,
            "cannot use the idempotency key with workflow handlers. The handler invocation will already be idempotent "
            "by the workflow key itself.",
        ),
        ("GET", f"/restate/invocation/{VALID_INV}/foo", b"", [], 404, "not found"),
        (
            "GET",
            "/restate/invocation/inv_bogus/output",
            b"",
            [],
            400,
            "bad invocation id 'inv_bogus': unrecognized codec version",
        ),
        ("POST", f"/restate/invocation/{VALID_INV}/output", b"", [], 405, "method not allowed"),
        ("GET", "/restate/workflow/Signup/u1/foo", b"", [], 404, "not found"),
        (
            "GET",
            "/restate/workflow/Signup",
            b"",
            [],
            400,
            "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
            "/restate/workflow/:workflow_name/:workflow_key/attach",
        ),
        (
            "POST",
            "/restate/awakeables/sign_bogus/resolve",
            b'"x"',
            [],
            400,
            "bad awakeable id 'sign_bogus': unrecognized codec version",
        ),
        ("POST", f"/restate/awakeables/{VALID_SIGN}/foo", b'"x"', [], 404, "not found"),
        ("GET", f"/restate/awakeables/{VALID_SIGN}/resolve", b"", [], 405, "method not allowed"),
        ("POST", "/restate/health", b"", [], 405, "method not allowed"),
        ("GET", "/openapi", b"", [], 400, "bad path: /openapi"),
        ("GET", "/", b"", [], 400, "bad path: /"),
        ("GET", "/restate", b"", [], 400, "bad path: /restate"),
        ("POST", "/a/b/c/d/e/f/g/h", b"x", [], 400, "bad path: /a/b/c/d/e/f/g/h"),
        ("GET", "/restate/foo/bar", b"", [], 404, "not found"),
        (
            "POST",
            "/restate/call/Greeter/greet/extra",
            b'"NewAPI"',
            [JSON],
            400,
            "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, "
            "/restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, "
            "/restate/output/:invocation_id, or /restate/lookup",
        ),
        (
            "POST",
            "/restate/scope/s1/call/Greeter/greet",
            b'"scoped"',
            [JSON],
            400,
            "scoped invocations require vqueues to be enabled",
        ),
        (
            "POST",
            "/restate/call/Greeter/greet",
            b'"lk"',
            [JSON, ("x-restate-limit-key", "abc")],
            400,
            "limit-key requires a scope to be set",
        ),
        (
            "POST",
            "/Greeter/greet",
            b'"x"',
            [JSON, ("x-bin", "\u00e9")],
            400,
            "bad header x-bin: ToStrError { _priv: () }",
        ),
        ("GET", "/restate/lookup", b"", [], 405, "method not allowed"),
    ],
)
def test_reference_errors(
    method: str, target: str, body: bytes, headers: list[tuple[str, str]], status: int, message: str
) -> None:
    ingress_error(run(method, target, body, headers), status, message)


def test_reference_error_bytes() -> None:
    reply = run("PUT", "/Greeter/greet", b'"Alice"', [JSON])
    assert reply.body == b'{"code":405,"message":"method not allowed","source":"ingress"}'
    assert reply.header("content-length") == "62"


def test_nothing_reaches_the_partition_on_errors() -> None:
    fake = FakeDispatcher()
    run("POST", "/Greeter/greet", b'"x"', [("content-type", "text/plain")], fake)
    run("POST", "/Greeter/greet?delay=1s", b'"x"', [JSON], fake)
    assert fake.requests == []


# --- body limit ------------------------------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_413_without_reading() -> None:
    reply = run("POST", "/Greeter/greet", b"x" * 2000, [JSON, ("content-length", "2000")], limit=1000)
    ingress_error(reply, 413, "cannot read body: LengthLimitError")
    assert reply.receive_calls == 0


def test_streamed_body_over_the_limit_stops_reading() -> None:
    chunks = [b"x" * 600, b"x" * 600, b"x" * 600, b"x"]
    reply = run("POST", "/Greeter/greet", chunks, [JSON], limit=1000)
    ingress_error(reply, 413, "cannot read body: LengthLimitError")
    assert reply.receive_calls == 2


def test_chunked_body_within_the_limit() -> None:
    fake = FakeDispatcher()
    assert run("POST", "/Greeter/greet", [b'"ab', b"c", b'd"'], [JSON], fake, limit=1000).status == 200
    assert fake.requests[0].input == b'"abcd"'


# --- health, preflight, readiness -------------------------------------------------------------------------------


def test_health() -> None:
    reply = run("GET", "/restate/health")
    assert reply.status == 200
    assert reply.body == json.dumps({"services": list(SCHEMA.services)}, separators=(",", ":")).encode()
    assert reply.names == ["content-type", *CORS, "content-length"]


def test_before_the_first_schema_everything_is_503() -> None:
    for target in ("/Greeter/greet", "/restate/health", "/restate/call/Greeter/greet"):
        reply = run("GET", target, dispatcher=FakeDispatcher(schema=None))
        assert reply.status == 503
        assert json.loads(reply.body)["source"] == "ingress"


def test_cors_preflight() -> None:
    reply = run(
        "OPTIONS",
        "/Greeter/greet",
        headers=[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    )
    assert reply.status == 200
    assert reply.body == b""
    assert reply.headers == [
        (b"access-control-allow-credentials", b"true"),
        (b"vary", VARY.encode()),
        (b"access-control-allow-methods", b"POST"),
        (b"access-control-allow-headers", b"content-type"),
        (b"access-control-allow-origin", b"http://example.com"),
        (b"content-length", b"0"),
    ]
    bare = run("OPTIONS", "/a/b/c/d/e/f/g/h/i")
    assert bare.status == 200 and bare.names == ["access-control-allow-credentials", "vary", "content-length"]


def test_lifespan_is_acknowledged() -> None:
    app = IngressApp(FakeDispatcher())
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, str]] = []

    async def receive() -> dict[str, str]:
        return next(events)

    async def send(message: dict[str, str]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class BrokenDispatcher(FakeDispatcher):
    """A dispatcher with a bug: reading its schema raises."""

    def __getattribute__(self, name: str) -> object:
        if name == "schema":
            raise RuntimeError("a bug")
        return super().__getattribute__(name)


def test_a_bug_is_answered_in_the_error_shape_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON], BrokenDispatcher())
    ingress_error(reply, 500, "internal error while handling the request")
    assert "ingress request POST /Greeter/greet failed" in caplog.text and "RuntimeError: a bug" in caplog.text


@pytest.mark.parametrize(
    ("delay", "message"),
    [
        # out of jiff's span range: the real server answers this (and panics for hours to seconds)
        ("9999999999999d", "failed to set value for day unit on span: parameter 'days' is not in the required "
         "range of -7304484..=7304484"),
        ("99999999999999999999999999d", "number too big to parse into 64-bit integer"),
        ("631107417601s", "failed to set value for second unit on span: parameter 'seconds' is not in the "
         "required range of -631107417600..=631107417600"),
    ],
)  # fmt: skip
def test_delays_beyond_the_duration_range_are_400(delay: str, message: str) -> None:
    fake = FakeDispatcher()
    reply = run("POST", f"/Greeter/greet/send?delay={delay}", b'"x"', [JSON], fake)
    prefix = 'bad delay query parameter, must be a ISO8601 duration: failed to parse input in the "friendly" duration'
    ingress_error(reply, 400, f"{prefix} format: {message}")
    assert fake.requests == []  # they used to reach the partition, and then fail as a 503 or a 500


def test_delays_past_the_last_timestamp_are_400() -> None:
    fake = FakeDispatcher()
    reply = run("POST", "/Greeter/greet/send?delay=7304484d", b'"x"', [JSON], fake)
    ingress_error(
        reply, 400, "bad delay query parameter, must be a ISO8601 duration: the delay puts the execution time "
        "after 9999-12-31T23:59:59.999Z",
    )  # fmt: skip
    assert fake.requests == []


def test_expiries_past_year_9999_are_written_as_chrono_does() -> None:
    """A retention of 7304484 days (the largest) puts the expiry in year 22025: `+22025-...` on the real server."""
    expires = 1_796_192_258_696 + 7_304_484 * 86_400_000  # 2026-12-02T06:17:38.696Z + 7304484d
    fake = FakeDispatcher(expires_at_ms=expires, replayed=True)
    reply = run("POST", "/Greeter/greet", b'"x"', [JSON, ("idempotency-key", "big")], fake)
    assert (reply.status, reply.header("idempotency-expires")) == (200, "+22025-12-01T06:17:38.696+00:00")
    assert rfc3339_nanos(253_402_300_800_000) == "+10000-01-01T00:00:00.000000000Z"
    assert rfc3339_nanos(1_795_273_519_195) == "2026-11-21T15:05:19.195000000Z"
