"""Path parsing, handler checks, input validation, query and header rules (HTTP-API.md 1.1-1.4, 1.11)."""

from __future__ import annotations

import pytest

from restate.ids import InvocationId, partition_key_for
from restate.ingress import errors, routing
from restate.ingress.errors import IngressError
from restate.ingress.routing import (
    AwakeableRoute,
    ById,
    ByIdempotencyKey,
    ByWorkflow,
    HealthRoute,
    InvocationRoute,
    ServiceRoute,
    TargetBodyRoute,
)
from restate.schema import InputRules, OutputRules
from tests.unit.ingress.fixtures import JSON_IN, NO_INPUT, SCHEMA

INV = "inv_1arJqkEd7c2K5D6QZl1EpZ9Swb2nQWoDR4"


def _error(path: str, schema=SCHEMA) -> tuple[int, str]:
    with pytest.raises(IngressError) as info:
        routing.parse_route(path, schema)
    return info.value.status, info.value.message


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/Greeter/greet", ServiceRoute("Greeter", "greet", None, send=False)),
        ("/Greeter/greet/send", ServiceRoute("Greeter", "greet", None, send=True)),
        ("/Counter/k1/add", ServiceRoute("Counter", "add", "k1", send=False)),
        ("/Counter/k1/add/send", ServiceRoute("Counter", "add", "k1", send=True)),
        ("/Counter/a%2Fb/add", ServiceRoute("Counter", "add", "a/b", send=False)),
        ("/Counter//add", ServiceRoute("Counter", "add", "", send=False)),
        ("/Counter/a+b%20c/add", ServiceRoute("Counter", "add", "a+b c", send=False)),
        ("/Signup/u1/run/send", ServiceRoute("Signup", "run", "u1", send=True)),
        ("/restate/call/Greeter/greet", ServiceRoute("Greeter", "greet", None, send=False)),
        ("/restate/send/Counter/k2/add", ServiceRoute("Counter", "add", "k2", send=True)),
        ("/restate/scope/s1/call/Greeter/greet", ServiceRoute("Greeter", "greet", None, False, scope="s1")),
        ("/restate/scope/s1/send/Counter/k/add", ServiceRoute("Counter", "add", "k", True, scope="s1")),
        ("/restate/health", HealthRoute()),
        ("/restate/awakeables/sign_1x/resolve", AwakeableRoute("sign_1x", resolve=True)),
        ("/restate/a/sign_1x/reject", AwakeableRoute("sign_1x", resolve=False)),
        (f"/restate/invocation/{INV}/attach", InvocationRoute(ById(InvocationId.parse(INV)), attach=True)),
        (f"/restate/invocation/{INV}/output", InvocationRoute(ById(InvocationId.parse(INV)), attach=False)),
        (
            "/restate/invocation/Greeter/greet/idem-1/output",
            InvocationRoute(ByIdempotencyKey("Greeter", None, "greet", "idem-1"), attach=False),
        ),
        (
            "/restate/invocation/Counter/k%2F1/add/c-1/attach",
            InvocationRoute(ByIdempotencyKey("Counter", "k/1", "add", "c-1"), attach=True),
        ),
        ("/restate/workflow/Signup/u1/attach", InvocationRoute(ByWorkflow("Signup", "u1"), attach=True)),
        ("/restate/workflow/Signup/u%201/output", InvocationRoute(ByWorkflow("Signup", "u 1"), attach=False)),
        (f"/restate/attach/{INV}", InvocationRoute(ById(InvocationId.parse(INV)), attach=True)),
        (f"/restate/output/{INV}", InvocationRoute(ById(InvocationId.parse(INV)), attach=False)),
        ("/restate/attach", TargetBodyRoute("attach")),
        ("/restate/output", TargetBodyRoute("output")),
        ("/restate/lookup", TargetBodyRoute("lookup")),
    ],
)
def test_routes(path: str, route: object) -> None:
    assert routing.parse_route(path, SCHEMA) == route


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/", 400, "bad path: /"),
        ("/restate", 400, "bad path: /restate"),
        ("/openapi", 400, "bad path: /openapi"),
        ("/a/b/c/d/e/f/g/h", 400, "bad path: /a/b/c/d/e/f/g/h"),
        ("/openapi/x", 404, "not found"),
        ("/restate/foo/bar", 404, "not found"),
        ("/Nope/greet", 404, "service 'Nope' not found, make sure to register the service before calling it."),
        ("/Counter/add", 400, errors.BAD_SERVICE_PATH),
        ("/Greeter/k1/greet", 400, errors.BAD_SERVICE_PATH),
        ("/Greeter/greet/send/x", 400, errors.BAD_SERVICE_PATH),
        ("/Counter/k1/add/send/x", 400, errors.BAD_SERVICE_PATH),
        ("/restate/call/Greeter/greet/extra", 400, errors.BAD_RESTATE_API_PATH),
        ("/restate/call/Counter/k1", 400, errors.BAD_RESTATE_API_PATH),
        ("/restate/scope/s1/put/Greeter/greet", 400, errors.BAD_RESTATE_API_PATH),
        ("/restate/call/Nope/x", 404, "service 'Nope' not found, make sure to register the service before calling it."),
        (f"/restate/attach/{INV}/x", 400, errors.BAD_RESTATE_API_PATH),
        ("/restate/lookup/x", 400, errors.BAD_RESTATE_API_PATH),
        ("/restate/awakeables/sign_1x", 400, errors.BAD_AWAKEABLES_PATH),
        ("/restate/awakeables/sign_1x/foo", 404, "not found"),
        ("/restate/invocation/x", 400, errors.BAD_INVOCATION_PATH),
        (f"/restate/invocation/{INV}/foo", 404, "not found"),
        ("/restate/invocation/inv_bogus/output", 400, "bad invocation id 'inv_bogus': unrecognized codec version"),
        ("/restate/invocation/bogus/output", 400, "bad invocation id 'bogus': bad format"),
        ("/restate/attach/inv_bogus", 400, "bad invocation id 'inv_bogus': unrecognized codec version"),
        ("/restate/invocation/Counter/k1/add/c-1", 400, errors.BAD_INVOCATION_PATH),
        ("/restate/invocation/Greeter/greet/idem/foo", 404, "not found"),
        ("/restate/workflow/Signup", 400, errors.BAD_WORKFLOW_PATH),
        ("/restate/workflow/Signup/u1", 400, errors.BAD_WORKFLOW_PATH),
        ("/restate/workflow/Signup/u1/foo", 404, "not found"),
        (
            "/Counter/%ff/add",
            400,
            "bad path, cannot decode key: FromUtf8Error { bytes: [255], "
            "error: Utf8Error { valid_up_to: 0, error_len: Some(1) } }",
        ),
    ],
)
def test_route_errors(path: str, status: int, message: str) -> None:
    assert _error(path) == (status, message)


def test_exact_error_messages_of_the_reference() -> None:
    assert errors.BAD_SERVICE_PATH == (
        "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"
    )
    assert errors.BAD_WORKFLOW_PATH == (
        "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
        "/restate/workflow/:workflow_name/:workflow_key/attach"
    )
    assert errors.BAD_RESTATE_API_PATH == (
        "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, "
        "/restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, "
        "/restate/output/:invocation_id, or /restate/lookup"
    )


def test_without_a_schema_service_routes_are_503_but_the_rest_parses() -> None:
    assert _error("/Greeter/greet", None) == (503, errors.SCHEMA_NOT_READY)
    assert _error("/restate/call/Greeter/greet", None)[0] == 503
    assert routing.parse_route("/restate/health", None) == HealthRoute()
    assert _error("/", None) == (400, "bad path: /")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("/Greeter/greet/", "/Greeter/greet"), ("//Greeter/greet", "/Greeter/greet"), ("/", "/"), ("/a//b", "/a//b")],
)
def test_normalize_path(raw: str, normalized: str) -> None:
    assert routing.normalize_path(raw) == normalized


# --- handler resolution ----------------------------------------------------------------------------------


def _resolve_error(route: ServiceRoute, idem: str | None = None) -> tuple[int, str]:
    with pytest.raises(IngressError) as info:
        routing.resolve_handler(SCHEMA, route, idem)
    return info.value.status, info.value.message


def test_resolve_handler_errors() -> None:
    assert _resolve_error(ServiceRoute("Greeter", "nope", None, False)) == (
        404,
        "the service 'Greeter' exists, but the handler 'nope' was not found, check that the handler "
        "exists in the latest registered service version.",
    )
    assert _resolve_error(ServiceRoute("Secret", "get", None, False)) == (400, "the invoked service is not public")
    assert _resolve_error(ServiceRoute("Signup", "run", "u1", False), "x") == (
        400,
        "cannot use the idempotency key with workflow handlers. "
        "The handler invocation will already be idempotent by the workflow key itself.",
    )
    assert _resolve_error(ServiceRoute("Greeter", "greet", None, False, scope="s1")) == (
        400,
        "scoped invocations require vqueues to be enabled",
    )


def test_resolve_handler_allows_idempotency_on_other_workflow_handlers() -> None:
    svc, handler = routing.resolve_handler(SCHEMA, ServiceRoute("Signup", "click", "u1", False), "x")
    assert (svc.name, handler.name) == ("Signup", "click")
    assert not routing.is_workflow_run(svc, handler)


# --- invocation ids ----------------------------------------------------------------------------------------


def test_invocation_ids() -> None:
    keyed = routing.invocation_id_for("Counter", "add", "k1", None)
    assert keyed.partition_key == partition_key_for("k1")
    assert routing.invocation_id_for("Counter", "add", "k1", None) != keyed
    idem = routing.invocation_id_for("Greeter", "greet", None, "idem-1")
    assert idem == routing.invocation_id_for("Greeter", "greet", None, "idem-1")
    assert idem.partition_key == partition_key_for("idem-1")
    assert idem != routing.invocation_id_for("Greeter", "greet", None, "idem-2")
    keyed_idem = routing.invocation_id_for("Counter", "add", "k1", "c-1")
    assert keyed_idem.partition_key == partition_key_for("k1")
    assert keyed_idem == InvocationId.deterministic(partition_key_for("k1"), "Counter", "k1", "add", "c-1")
    run = routing.invocation_id_for("Signup", "run", "u1", None, workflow_run=True)
    assert run == routing.invocation_id_for("Signup", "run", "u1", None, workflow_run=True)
    assert run.partition_key == partition_key_for("u1")


# --- input validation --------------------------------------------------------------------------------------


def _input_error(rules: InputRules, content_type: str | None, body: bytes) -> str:
    with pytest.raises(IngressError) as info:
        routing.validate_input(rules, content_type, body)
    assert info.value.status == 400
    return info.value.message


@pytest.mark.parametrize(
    ("rules", "content_type", "body"),
    [
        (JSON_IN, "application/json", b'"x"'),
        (JSON_IN, "application/json; charset=utf-8", b'"x"'),
        (JSON_IN, None, b""),
        (NO_INPUT, None, b""),
        (InputRules(), None, b""),
        (InputRules(), "text/plain", b"anything"),
        (InputRules(), "whatever", b""),
        (InputRules(content_type="text/*"), "text/csv", b"a,b"),
        (InputRules(content_type="application/json"), "application/json", b""),
    ],
)
def test_input_accepted(rules: InputRules, content_type: str | None, body: bytes) -> None:
    routing.validate_input(rules, content_type, body)


@pytest.mark.parametrize(
    ("rules", "content_type", "body", "message"),
    [
        (
            JSON_IN,
            "application/x-www-form-urlencoded",
            b'"Alice"',
            "input validation error: Content-type 'application/x-www-form-urlencoded' does not match "
            "'application/json'",
        ),
        (
            JSON_IN,
            "text/plain",
            b'"tp"',
            "input validation error: Content-type 'text/plain' does not match 'application/json'",
        ),
        (
            NO_INPUT,
            "application/json",
            b'"x"',
            "input validation error: Expected body and content-type to be empty, but wasn't with content-type "
            "'Some(\"application/json\")'",
        ),
        (
            NO_INPUT,
            None,
            b"x",
            "input validation error: Expected body and content-type to be empty, but wasn't with content-type 'None'",
        ),
        (JSON_IN, None, b'"x"', "input validation error: Empty content-type"),
        (JSON_IN, "application/json", b"", "input validation error: Empty body not allowed"),
        (
            InputRules(required=True, content_type="text/*"),
            "application/json",
            b"1",
            "input validation error: Content-type 'application/json' does not match 'text/*'",
        ),
        (
            InputRules(required=True, content_type=None),
            None,
            b"",
            "input validation error: Bad configuration of the input validation rules",
        ),
        (JSON_IN, "json", b"1", "input validation error: Content-type 'json' does not match 'application/json'"),
    ],
)
def test_input_rejected(rules: InputRules, content_type: str | None, body: bytes, message: str) -> None:
    assert _input_error(rules, content_type, body) == message


def test_output_content_type() -> None:
    assert routing.output_content_type(OutputRules(content_type="application/json"), empty=False) == "application/json"
    assert routing.output_content_type(OutputRules(content_type="application/json"), empty=True) is None
    rules = OutputRules(content_type="text/plain", set_content_type_if_empty=True)
    assert routing.output_content_type(rules, empty=True) == "text/plain"
    assert routing.output_content_type(OutputRules(), empty=False) is None


# --- query and headers -------------------------------------------------------------------------------------


def test_parse_delay_query() -> None:
    assert routing.parse_delay("") is None
    assert routing.parse_delay("foo=1") is None
    assert routing.parse_delay("delay=2s") == 2_000_000_000
    assert routing.parse_delay("DeLaY=500ms") == 500_000_000
    assert routing.parse_delay("delay=60+sec") == 60_000_000_000
    assert routing.parse_delay("delay=PT1S&delay=5s") == 1_000_000_000
    assert routing.parse_delay("delay=1000") == 1_000_000_000  # ms, as the official Python client sends
    with pytest.raises(IngressError) as info:
        routing.parse_delay("delay=bogus")
    assert info.value.message == (
        'bad delay query parameter, must be a ISO8601 duration: failed to parse input in the "friendly" '
        "duration format: expected duration to start with a unit value (a decimal integer) after an optional "
        "sign, but no integer was found"
    )


def test_limit_key_requires_a_scope() -> None:
    routing.check_limit_key(None, "", None)
    routing.check_limit_key("abc", "", "s1")
    for header, query in (("abc", ""), (None, "limit-key=abc"), (None, "Limit-Key=abc")):
        with pytest.raises(IngressError) as info:
            routing.check_limit_key(header, query, None)
        assert info.value.message == "limit-key requires a scope to be set"


def test_input_headers() -> None:
    headers = [
        (b"host", b"localhost:8080"),
        (b"connection", b"keep-alive"),
        (b"content-type", b"application/json"),
        (b"idempotency-key", b"k"),
        (b"idempotency-expires", b"x"),
        (b"x-custom", b"v\t1"),
        (b"x-custom", b"v2"),
    ]
    assert routing.input_headers("/Greeter/greet/send?delay=1s", headers) == [
        ("x-restate-ingress-path", "/Greeter/greet/send?delay=1s"),
        ("content-type", "application/json"),
        ("x-custom", "v\t1"),
        ("x-custom", "v2"),
    ]
    with pytest.raises(IngressError) as info:
        routing.input_headers("/a/b", [(b"x-bin", "é".encode())])
    assert info.value.message == "bad header x-bin: ToStrError { _priv: () }"
