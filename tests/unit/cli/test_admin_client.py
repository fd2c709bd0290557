"""The admin client: error translation, SQL rows, state versions, literals."""

from __future__ import annotations

import httpx
import pytest

from cli.admin_client import AdminClient, ApiError, Unreachable, sql_literal, state_version


def client_for(handler: object) -> AdminClient:
    return AdminClient("http://admin.test", http=httpx.Client(transport=httpx.MockTransport(handler)))  # type: ignore[arg-type]


def test_json_error_keeps_message_and_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": "discovery failed", "restate_code": "META0003"})

    with pytest.raises(ApiError) as info:
        client_for(handler).list_services()
    assert (info.value.status, info.value.message, info.value.code) == (500, "discovery failed", "META0003")
    assert str(info.value) == "[500] [META0003] discovery failed"


def test_a_code_the_message_repeats_is_shown_once() -> None:
    """The real server (and ours) answer `[META0003] [META0003] ...`; the CLI printed the code three times."""
    message = "[META0003] [META0003] error when calling 'http://127.0.0.1:1/': connection refused"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": message, "restate_code": "META0003"})

    with pytest.raises(ApiError) as info:
        client_for(handler).list_services()
    assert info.value.message == message  # kept as the server sent it (--json)
    assert str(info.value) == "[500] [META0003] error when calling 'http://127.0.0.1:1/': connection refused"


def test_text_error_is_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, text="Invalid URL: Cannot parse `deployment`", headers={"content-type": "text/plain"}
        )

    with pytest.raises(ApiError, match=r"\[400\] Invalid URL"):
        client_for(handler).get_deployment("nope")


def test_connection_refused_is_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Unreachable, match="cannot reach the admin API at http://admin.test"):
        client_for(handler).version()


def test_query_sends_json_accept_and_returns_rows() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"rows": [{"id": "inv_1", "status": "running"}]})

    assert client_for(handler).query("SELECT 1") == [{"id": "inv_1", "status": "running"}]
    assert seen[0].headers["accept"] == "application/json"
    assert seen[0].content == b'{"query":"SELECT 1"}'


def test_invocation_op_path_and_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("PATCH", "/invocations/inv_1abc/kill")
        return httpx.Response(200)

    assert client_for(handler).invocation_op("inv_1abc", "kill") == 200
    with pytest.raises(ValueError, match="unknown invocation operation"):
        client_for(handler).invocation_op("inv_1abc", "explode")


def test_replace_state_sends_byte_lists_and_version() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(202)

    client_for(handler).replace_state("Counter", "k/1", {"count": b"42"}, "v1")
    assert bodies == [b'{"object_key":"k/1","new_state":{"count":[52,50]},"version":"v1"}']


def test_state_version_matches_the_official_cli() -> None:
    # Value computed by the official CLI's algorithm (HTTP-API.md 2.5) for an empty state.
    assert state_version({}) == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    assert state_version({"b": b"2", "a": b"1"}) == state_version({"a": b"1", "b": b"2"})
    assert state_version({"a": b"1"}) != state_version({"a": b"2"})


def test_sql_literal_doubles_quotes() -> None:
    assert sql_literal("O'Brien") == "'O''Brien'"
