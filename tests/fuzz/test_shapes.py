"""The fuzz tests' oracle: it must flag what the server answered before these fixes, and pass what is documented."""

from __future__ import annotations

import pytest

from tests.fuzz.shapes import admin_problem, ingress_problem, log_problems

JSON = {"content-type": "application/json"}
INGRESS = {**JSON, "x-restate-error-source": "ingress"}
INVOCATION = {**JSON, "x-restate-error-source": "invocation"}


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (500, {"content-type": "text/plain; charset=utf-8"}, b"Internal Server Error"),  # uvicorn after a crash
        (400, {"content-type": "text/plain; charset=utf-8"}, b"Invalid HTTP request received."),
        (500, INGRESS, b'{"code":500,"message":"internal error while handling the request","source":"ingress"}'),
        (404, JSON, b'{"code":404,"message":"x","source":"ingress"}'),  # no x-restate-error-source
        (404, INGRESS, b'{"message":"x","source":"ingress"}'),  # no code
        (404, INGRESS, b'{"code":404,"message":"x","source":"ingress","extra":1}'),
    ],
)
def test_ingress_answers_flagged(status: int, headers: dict[str, str], body: bytes) -> None:
    assert ingress_problem(status, headers, body) is not None


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (400, {"connection": "close", "content-length": "0"}, b""),  # hyper's bare 400
        (500, INGRESS, b'{"code":500,"message":"cannot read body: invalid request body: x","source":"ingress"}'),
        (418, INVOCATION, b'{"code":418,"message":"nope","source":"invocation"}'),
        (503, INGRESS, b'{"code":503,"message":"internal routing error: x","source":"ingress"}'),
        (470, INGRESS, b'{"code":470,"message":"the invocation exists but has not completed yet","source":"ingress"}'),
    ],
)
def test_ingress_answers_accepted(status: int, headers: dict[str, str], body: bytes) -> None:
    assert ingress_problem(status, headers, body) is None


def test_admin_answers() -> None:
    crash = b'{"message":"Internal server error","restate_code":null}'
    assert admin_problem("POST", "/query", 500, JSON, crash) is not None
    assert admin_problem("PATCH", "/services/{service}", 500, JSON, crash) is not None
    assert admin_problem("GET", "/health", 500, {"content-type": "text/plain"}, b"Internal Server Error") is not None
    assert admin_problem("GET", "/services", 500, {}, b"") is not None
    sql = b'{"message":"Datafusion error: Arrow error: Divide by zero error"}'
    assert admin_problem("POST", "/query", 500, JSON, sql) is None
    discovery = b'{"message":"[META0003] [META0003] error when calling x","restate_code":"META0003"}'
    assert admin_problem("POST", "/deployments", 500, JSON, discovery) is None
    assert admin_problem("DELETE", "/deployments/{deployment}", 501, {}, b"") is None
    assert admin_problem("POST", "/query", 422, {"content-type": "text/plain; charset=utf-8"}, b"Failed") is None


def test_log_problems_name_the_exception() -> None:
    log = "INFO fine\nTraceback (most recent call last):\n  File \"x.py\", line 1\n    boom()\nRecursionError: deep\n"
    assert log_problems(log) == ["RecursionError: deep"]
    assert log_problems("ERROR:    Exception in ASGI application\n") == ["ERROR:    Exception in ASGI application"]
    assert log_problems("WARNING: Invalid HTTP request received.\n") == []
