"""`PATCH /deployments/{id}` in-process, with a fake discovery: the body, the re-discovery, what changes, errors.

The expected statuses and messages are the real server's (tests/integration/test_deployment_update.py runs
the same requests against it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from restate.admin.app import AdminApp
from restate.admin.deployment_update import UNTAGGED, parse_update_body
from restate.admin.errors import AdminError, PlainError
from tests.unit.admin.helpers import DP_A, DP_C, FakeBackend, Reply, call, discovered, discovered_from, manifest_json

T = TypeVar("T")
URI_A = "http://127.0.0.1:29080/"
URI_MOVED = "http://127.0.0.1:29090/"
URI_H1 = "http://127.0.0.1:29091/"
TEXT = "text/plain; charset=utf-8"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def request(app: AdminApp, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
    return run(call(app, method, path, body, **kw))


def with_services(*names: str) -> dict[str, Any]:
    """The transcript's manifest cut to some of its services (or with one renamed copy added)."""
    manifest = manifest_json("transcript")
    found = {s["name"]: s for s in manifest["services"]}
    services = []
    for name in names:
        base, _, renamed = name.partition("=")
        services.append({**found[base], "name": renamed or base})
    return {**manifest, "services": services}


def registered(**endpoints: Any) -> tuple[FakeBackend, AdminApp]:
    fake = FakeBackend(endpoints={URI_A: discovered("transcript"), **endpoints})
    app = fake.app()
    reply = request(app, "POST", "/deployments", {"uri": URI_A, "additional_headers": {"x-a": "1"}})
    assert reply.status == 201, reply.body
    return fake, app


def patch(app: AdminApp, body: Any, dp: str = DP_A, **kw: Any) -> Reply:
    return request(app, "PATCH", f"/deployments/{dp}", body, **kw)


# --- the body ----------------------------------------------------------------------------------------------


def test_an_empty_body_changes_nothing() -> None:
    update = parse_update_body(b"{}")
    assert update.changes_nothing and not update.overwrite and not update.dry_run


@pytest.mark.parametrize("body", [b'{"uri": 5}', b'{"uri": "not a uri"}', b'{"use_http_11": "yes"}'])
def test_a_body_the_http_variant_refuses_is_read_as_the_lambda_variant(body: bytes) -> None:
    # serde's untagged enum: the Lambda variant ignores the HTTP fields, so nothing is left to change
    assert parse_update_body(body).changes_nothing


def test_a_lambda_address_is_a_change() -> None:
    update = parse_update_body(b'{"arn": "arn:aws:lambda:eu-central-1:1:function:f:1"}')
    assert update.arn == "arn:aws:lambda:eu-central-1:1:function:f:1" and not update.changes_nothing
    assert not parse_update_body(b'{"assume_role_arn": "arn:aws:iam::1:role/r"}').changes_nothing


def test_without_a_uri_member_the_body_is_the_lambda_variant() -> None:
    assert parse_update_body(b'{"use_http_11": true}').changes_nothing  # not a Lambda field: ignored
    assert parse_update_body(b'{"uri": null, "use_http_11": true}').use_http_11 is True


@pytest.mark.parametrize("body", [b'{"overwrite": "yes"}', b"[]", b'{"additional_headers": {"bad header": "x"}}'])
def test_a_body_no_variant_reads_is_422(body: bytes) -> None:
    with pytest.raises(PlainError) as caught:
        parse_update_body(body)
    assert (caught.value.status, caught.value.text) == (422, UNTAGGED)


def test_a_relative_uri_is_an_invalid_field() -> None:
    with pytest.raises(AdminError) as caught:
        parse_update_body(b'{"uri": "/relative"}')
    assert caught.value.status == 400
    assert caught.value.message == (
        "The request field 'uri' is invalid. Reason: The provided uri /relative is not absolute, only absolute URIs "
        "can be used."
    )


# --- the route -----------------------------------------------------------------------------------------------


def test_nothing_to_change_answers_like_a_get_without_discovery() -> None:
    fake, app = registered()
    nulls = {"uri": None, "additional_headers": None, "use_http_11": None}
    for body in ({}, {"overwrite": True}, nulls, {"use_http_11": True}, {"uri": 5}):
        reply = patch(app, body)
        assert (reply.status, reply.json()) == (200, request(app, "GET", f"/deployments/{DP_A}").json())
    assert len(fake.discover_calls) == 1 and len(fake.persisted) == 1  # the registration's


def test_a_new_uri_is_discovered_and_stored_keeping_the_services() -> None:
    fake, app = registered(**{URI_MOVED: discovered_from(with_services("Greeter"))})
    before = request(app, "GET", f"/deployments/{DP_A}").json()
    reply = patch(app, {"uri": URI_MOVED.rstrip("/")})
    assert reply.status == 200, reply.body
    assert fake.discover_calls[-1] == (URI_MOVED, {"x-a": "1"}, False)  # the stored headers, over h2c
    after = reply.json()
    assert after == {**before, "uri": URI_MOVED}  # services, created_at, metadata as registered
    assert request(app, "GET", f"/deployments/{DP_A}").json() == after
    assert app.schema.version == 2 and fake.persisted[-1] is app.schema and fake.published[-1] is app.schema


def test_headers_and_http_version_are_replaced() -> None:
    fake, app = registered(**{URI_H1: discovered("extra", "HTTP/1.1")})  # a request/response endpoint
    # new headers at the same address, over the deployment's HTTP version (use_http_11 goes with a uri only)
    reply = patch(app, {"additional_headers": {"X-B": "2"}, "use_http_11": True})
    assert reply.status == 200, reply.body
    assert fake.discover_calls[-1] == (URI_A, {"x-b": "2"}, False)
    assert reply.json()["additional_headers"] == {"x-b": "2"}
    reply = patch(app, {"uri": URI_H1, "use_http_11": True})
    assert fake.discover_calls[-1] == (URI_H1, {"x-b": "2"}, True)
    body = reply.json()
    assert (body["uri"], body["protocol_type"], body["http_version"]) == (URI_H1, "RequestResponse", "HTTP/1.1")
    assert {s["inactivity_timeout"] for s in body["services"]} == {"0s"}
    patch(app, {"additional_headers": {}})  # the address and its HTTP version are kept
    assert fake.discover_calls[-1] == (URI_H1, {}, True)
    patch(app, {"uri": URI_H1})  # a new URI without use_http_11 is discovered over h2c, as the real server does
    assert fake.discover_calls[-1] == (URI_H1, {}, False)
    patch(app, {"uri": None, "use_http_11": True})  # the deployment's address, over HTTP/1.1
    assert fake.discover_calls[-1] == (URI_H1, {}, True)


def test_dry_run_discovers_but_stores_nothing() -> None:
    fake, app = registered(**{URI_MOVED: discovered("transcript")})
    reply = patch(app, {"uri": URI_MOVED, "dry_run": True})
    assert (reply.status, reply.json()["uri"]) == (200, URI_MOVED)
    assert fake.discover_calls[-1][0] == URI_MOVED
    assert request(app, "GET", f"/deployments/{DP_A}").json()["uri"] == URI_A
    assert app.schema.version == 1 and len(fake.persisted) == 1


def test_overwrite_replaces_the_services_at_their_revisions() -> None:
    fake, app = registered(**{URI_MOVED: discovered_from(with_services("Greeter", "Counter=Tally"))})
    patched_service = request(app, "PATCH", "/services/Greeter", {"idempotency_retention": "1h"})
    assert patched_service.status == 200
    reply = patch(app, {"uri": URI_MOVED, "overwrite": True})
    assert reply.status == 200, reply.body
    services = {s["name"]: s for s in reply.json()["services"]}
    assert {name: s["revision"] for name, s in services.items()} == {"Greeter": 1, "Tally": 1}
    assert services["Greeter"]["idempotency_retention"] == "1d"  # back to the discovered settings
    assert sorted(s["name"] for s in request(app, "GET", "/services").json()["services"]) == ["Greeter", "Tally"]
    listed = request(app, "GET", "/deployments").json()["deployments"]
    assert [sorted(s["name"] for s in d["services"]) for d in listed] == [["Greeter", "Tally"]]


def test_other_protocol_versions_are_refused() -> None:
    narrower = {**manifest_json("transcript"), "maxProtocolVersion": 6}
    fake, app = registered(**{URI_MOVED: discovered_from(narrower)})
    for overwrite in (False, True):
        reply = patch(app, {"uri": URI_MOVED, "overwrite": overwrite})
        assert (reply.status, reply.json()) == (400, {
            "message": "[META0016] an update deployment operation must provide an endpoint with the same services "
            "and handlers. The update tried to change the supported protocol versions from 5..=7 to 5..=6",
            "restate_code": "META0016",
        })  # fmt: skip
    assert app.schema.version == 1


def test_an_unreachable_endpoint_is_500_and_changes_nothing() -> None:
    fake, app = registered()
    reply = patch(app, {"uri": "http://127.0.0.1:1/"})
    assert reply.status == 500 and reply.json()["restate_code"] == "META0003"
    assert app.schema.version == 1


def test_lambda_addresses() -> None:
    fake, app = registered()
    arn = "arn:aws:lambda:eu-central-1:1:function:f:1"
    reply = patch(app, {"arn": arn})  # the real server tries to discover the Lambda
    assert (reply.status, reply.json()) == (500, {
        "message": f"[META0003] [META0003] error when calling '{arn}': Lambda deployments are not supported by "
        "this server",
        "restate_code": "META0003",
    })  # fmt: skip
    reply = patch(app, {"assume_role_arn": "arn:aws:iam::1:role/r"})
    assert (reply.status, reply.json()) == (400, {
        "message": "cannot update the deployment, as the deployment type is http while the update options are for "
        "type lambda",
        "restate_code": None,
    })  # fmt: skip
    assert len(fake.discover_calls) == 1


def test_unknown_and_malformed_deployments() -> None:
    _, app = registered()
    empty = patch(app, {}, dp=DP_C)
    assert (empty.status, empty.json()["message"]) == (404, f"The requested deployment '{DP_C}' does not exist")
    change = patch(app, {"uri": URI_MOVED}, dp=DP_C)
    assert (change.status, change.json()["message"]) == (404, f"The requested deployment '{DP_C}' does not exist")
    bad = patch(app, {}, dp="nope")
    assert (bad.status, bad.headers["content-type"]) == (400, TEXT)


def test_the_body_must_be_json() -> None:
    _, app = registered()
    reply = request(app, "PATCH", f"/deployments/{DP_A}", b"{}")
    assert (reply.status, reply.body) == (415, b"Expected request with `Content-Type: application/json`")


def test_put_is_the_update_of_admin_api_v2_and_deprecated_after_it() -> None:
    fake, app = registered(**{URI_MOVED: discovered("transcript")})
    reply = request(app, "PUT", f"/v2/deployments/{DP_A}", {"uri": URI_MOVED})
    assert (reply.status, reply.json()["uri"]) == (200, URI_MOVED)
    for prefix in ("", "/v3", "/v4"):
        assert request(app, "PUT", f"{prefix}/deployments/{DP_A}", b"{}").status == 415  # the body is read first
        reply = request(app, "PUT", f"{prefix}/deployments/{DP_C}", {"uri": URI_A})
        assert (reply.status, reply.json()["message"]) == (405, "PUT deployment is deprecated, use PATCH instead")
    assert len(fake.discover_calls) == 2
