"""The admin ASGI app driven in-process with a fake discovery backend: routes, statuses, bodies, errors."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from restate.admin.app import MAX_BODY, AdminApp
from restate.admin.errors import AdminError
from restate.schema import Schema
from tests.unit.admin.helpers import (
    DP_A,
    DP_B,
    DP_C,
    FakeBackend,
    Reply,
    call,
    canonical,
    discovered,
    transcript,
)

T = TypeVar("T")
URI_A = "http://127.0.0.1:29080/"
URI_X = "http://127.0.0.1:29081/"
URI_B = "http://127.0.0.1:29082/"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def backend() -> FakeBackend:
    return FakeBackend(
        endpoints={
            URI_A: discovered("transcript"),
            URI_X: discovered("extra", "HTTP/1.1"),
            URI_B: discovered("breaking"),
        }
    )


def request(app: AdminApp, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
    return run(call(app, method, path, body, **kw))


def registered() -> tuple[FakeBackend, AdminApp]:
    fake = backend()
    app = fake.app()
    assert request(app, "POST", "/deployments", {"uri": "http://127.0.0.1:29080"}).status == 201
    return fake, app


# --- framework-level behaviour -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/v2", "/v3", "/v4"])
def test_health_under_every_version(prefix: str) -> None:
    reply = request(backend().app(), "GET", f"{prefix}/health")
    assert (reply.status, reply.body) == (200, b"")
    assert "content-type" not in reply.headers


def test_v1_is_refused_with_text() -> None:
    reply = request(backend().app(), "GET", "/v1/deployments")
    assert (reply.status, reply.headers["content-type"]) == (400, TEXT)
    assert reply.body == b"Unsupported Admin API version V1. This server supports versions between V2 and V4."


@pytest.mark.parametrize("path", ["/nope", "/v5/version", "/deployments/", "/services/Counter/handlers/a/b"])
def test_unknown_paths_are_404_empty(path: str) -> None:
    reply = request(backend().app(), "GET", path)
    assert (reply.status, reply.body, reply.headers["content-length"]) == (404, b"", "0")
    assert "content-type" not in reply.headers


def test_wrong_method_is_405_with_allow() -> None:
    reply = request(backend().app(), "POST", "/services")
    assert (reply.status, reply.body, reply.headers["allow"]) == (405, b"", "GET,HEAD")


def test_root_redirects_to_the_ui() -> None:
    reply = request(backend().app(), "GET", "/")
    assert (reply.status, reply.headers["location"], reply.body) == (308, "/ui/", b"")


def test_head_sends_no_body() -> None:
    reply = request(backend().app(), "HEAD", "/version")
    assert (reply.status, reply.body) == (200, b"")
    assert int(reply.headers["content-length"]) > 0


def test_version() -> None:
    reply = request(backend().app(), "GET", "/version")
    assert (reply.status, reply.headers["content-type"]) == (200, JSON)
    body = reply.json()
    assert {k: body[k] for k in list(body)[:4]} == {
        "version": "1.7.12",
        "min_admin_api_version": 2,
        "max_admin_api_version": 4,
        "ingress_endpoint": "http://127.0.0.1:28080/",
    }
    assert body["features"]["protocol_v7"] is False


def test_cluster_health() -> None:
    body = request(backend().app(), "GET", "/cluster-health").json()
    assert body == {"cluster_name": "localcluster", "metadata_cluster_health": {"members": [1]}}


@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"}, {"content-type": "application/xml"}])
def test_register_needs_a_json_content_type(headers: dict[str, str]) -> None:
    reply = request(backend().app(), "POST", "/deployments", b'{"uri":"http://127.0.0.1:29080/"}', headers=headers)
    assert (reply.status, reply.headers["content-type"]) == (415, TEXT)
    assert reply.body == b"Expected request with `Content-Type: application/json`"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.custom+json"])
def test_json_content_type_variants_are_accepted(content_type: str) -> None:
    body = b'{"uri":"http://127.0.0.1:29080/"}'
    reply = request(backend().app(), "POST", "/deployments", body, headers={"content-type": content_type})
    assert reply.status == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"uri":"not a uri"}', 422), (b'{"foo":1}', 422), (b"{", 400), (b"", 400), (b"\xff", 400)],
)
def test_bad_register_bodies_are_text_errors(body: bytes, status: int) -> None:
    reply = request(backend().app(), "POST", "/deployments", body, headers={"content-type": JSON})
    assert (reply.status, reply.headers["content-type"]) == (status, TEXT)
    if status == 422:
        assert reply.body == (
            b"Failed to deserialize the JSON body into the target type: "
            b"data did not match any variant of untagged enum RegisterDeploymentRequest"
        )


def test_request_bodies_are_limited() -> None:
    app = backend().app()
    big = b"x" * (MAX_BODY + 1)
    headers = {"content-type": JSON, "content-length": str(len(big))}
    assert request(app, "POST", "/deployments", big, headers=headers).status == 413
    chunks = [b"x" * (MAX_BODY // 2)] * 3
    reply = request(app, "POST", "/deployments", headers={"content-type": JSON}, chunks=chunks)
    assert (reply.status, reply.body) == (413, b"Failed to buffer the request body: length limit exceeded")


def test_unexpected_exceptions_become_500_json() -> None:
    fake = backend()

    async def broken(uri: str, headers: dict[str, str], http11: bool) -> Any:
        raise RuntimeError("boom")

    app = fake.app()
    app.hooks.discover = broken
    reply = request(app, "POST", "/deployments", {"uri": URI_A})
    assert (reply.status, reply.json()["restate_code"]) == (500, None)


# --- registration --------------------------------------------------------------------------------------


def test_register_new_deployment() -> None:
    fake = backend()
    app = fake.app()
    reply = request(app, "POST", "/deployments", {"uri": "http://127.0.0.1:29080"})
    assert (reply.status, reply.headers["location"], reply.headers["content-type"]) == (
        201,
        f"deployments/{DP_A}",
        JSON,
    )
    assert canonical(reply.json()) == canonical(transcript("register_response"))
    assert fake.discover_calls == [(URI_A, {}, False)]
    assert [s.version for s in fake.persisted] == [1] and fake.published == fake.persisted
    assert app.schema is fake.persisted[0]


def test_same_uri_again_is_200_without_discovery() -> None:
    fake, app = registered()
    reply = request(app, "POST", "/v4/deployments", {"uri": URI_A})
    assert (reply.status, reply.headers["location"], reply.json()["id"]) == (200, f"deployments/{DP_A}", DP_A)
    assert len(fake.discover_calls) == 1 and len(fake.persisted) == 1


def test_same_uri_on_v2() -> None:
    fake, app = registered()
    conflict = request(app, "POST", "/v2/deployments", {"uri": URI_A, "force": False})
    assert (conflict.status, conflict.headers["content-type"]) == (409, JSON)
    assert conflict.json() == {"message": f"Conflict: deployment {DP_A} already exists", "restate_code": None}
    forced = request(app, "POST", "/v2/deployments", {"uri": URI_A})  # force defaults to true on v2
    assert (forced.status, forced.json()["id"]) == (201, DP_A)
    assert forced.json()["services"][0]["revision"] == 2


def test_force_overwrites_and_bumps_revisions() -> None:
    fake, app = registered()
    reply = request(app, "POST", "/deployments", {"uri": URI_A, "force": True})
    assert (reply.status, reply.json()["id"]) == (200, DP_A)
    assert {s["revision"] for s in reply.json()["services"]} == {2}
    assert [s.version for s in fake.persisted] == [1, 2]
    assert len(fake.discover_calls) == 2


def test_dry_run_persists_nothing() -> None:
    fake, app = registered()
    before = app.schema
    reply = request(app, "POST", "/deployments", {"uri": URI_A, "force": True, "dry_run": True})
    assert (reply.status, reply.json()["services"][0]["revision"]) == (200, 2)
    reply = request(app, "POST", "/deployments", {"uri": URI_X, "dry_run": True, "use_http_11": True})
    assert reply.status == 201 and reply.json()["id"] not in app.schema.deployments
    assert app.schema is before and len(fake.persisted) == 1
    assert fake.discover_calls[-1] == (URI_X, {}, True)


def test_breaking_changes() -> None:
    fake, app = registered()
    reply = request(app, "POST", "/deployments", {"uri": URI_B})
    assert reply.status == 409
    assert reply.json()["restate_code"] == "META0006"
    assert reply.json()["message"].startswith("[META0006] detected a new service revision for 'Counter'")
    reply = request(app, "POST", "/deployments", {"uri": URI_B, "breaking": True, "dry_run": True})
    assert reply.status == 201 and reply.json()["id"] not in (DP_A, *app.schema.deployments)
    assert (reply.json()["services"][0]["ty"], reply.json()["services"][0]["revision"]) == ("Service", 2)
    assert len(fake.persisted) == 1


def test_discovery_failure_is_500_meta0003_and_persists_nothing() -> None:
    fake = backend()
    fake.endpoints["http://127.0.0.1:1/"] = AdminError(
        500, "[META0003] [META0003] error when calling 'http://127.0.0.1:1/': refused", "META0003"
    )
    app = fake.app()
    reply = request(app, "POST", "/deployments", {"uri": "http://127.0.0.1:1/"})
    assert (reply.status, reply.json()["restate_code"]) == (500, "META0003")
    assert reply.json()["message"].startswith("[META0003] [META0003] error when calling 'http://127.0.0.1:1/'")
    assert fake.persisted == [] and app.schema == Schema()


def test_lambda_is_refused_like_a_failed_discovery() -> None:
    reply = request(backend().app(), "POST", "/deployments", {"arn": "arn:aws:lambda:eu-central-1:1:function:f:1"})
    assert (reply.status, reply.json()["restate_code"]) == (500, "META0003")


def test_relative_uri_is_400_json() -> None:
    reply = request(backend().app(), "POST", "/deployments", {"uri": "/relative"})
    assert (reply.status, reply.headers["content-type"]) == (400, JSON)


# --- deployments ---------------------------------------------------------------------------------------


def test_list_and_get_deployments() -> None:
    _, app = registered()
    request(app, "POST", "/deployments", {"uri": URI_X, "use_http_11": True, "metadata": {"team": "a"}})
    listed = request(app, "GET", "/deployments").json()["deployments"]
    assert [(d["id"], d["protocol_type"], d["http_version"]) for d in listed] == [
        (DP_A, "BidiStream", "HTTP/2.0"),
        (DP_B, "RequestResponse", "HTTP/1.1"),
    ]
    assert listed[1]["metadata"] == {"team": "a"} and "metadata" not in listed[0]
    detail = request(app, "GET", f"/v3/deployments/{DP_B}").json()
    assert (detail["services"][0]["name"], detail["services"][0]["inactivity_timeout"]) == ("Extra", "0s")


@pytest.mark.parametrize(
    ("dp", "reason"),
    [("garbage", "bad format"), ("dp_nonexistent1234567890123", "unrecognized codec version"), ("dp_1x", "bad format")],
)
def test_bad_deployment_ids_are_400_text(dp: str, reason: str) -> None:
    for method in ("GET", "DELETE"):
        reply = request(backend().app(), method, f"/deployments/{dp}")
        assert (reply.status, reply.headers["content-type"]) == (400, TEXT)
        assert reply.body.decode() == f"Invalid URL: Cannot parse `deployment` with value `{dp}`: {reason}"


def test_unknown_deployment_is_404_json() -> None:
    reply = request(backend().app(), "GET", f"/deployments/{DP_B}")
    assert reply.status == 404
    assert reply.json() == {"message": f"The requested deployment '{DP_B}' does not exist", "restate_code": None}


def test_delete_deployment() -> None:
    fake, app = registered()
    for query in ("", "?force=false"):
        reply = request(app, "DELETE", f"/deployments/{DP_A}{query}")
        assert (reply.status, reply.body) == (501, b"")
    bogus = request(app, "DELETE", f"/deployments/{DP_A}?force=maybe")
    assert (bogus.status, bogus.headers["content-type"]) == (400, TEXT)
    reply = request(app, "DELETE", f"/deployments/{DP_A}?force=true")
    assert (reply.status, reply.body) == (202, b"")
    assert app.schema.deployments == {} and [s.version for s in fake.persisted] == [1, 2]
    again = request(app, "DELETE", f"/deployments/{DP_A}?force=true")
    assert again.status == 404
    assert again.json()["message"] == f"not found in the schema registry: deployment with id '{DP_A}'"
    assert request(app, "GET", "/services").json() == {"services": []}


def test_put_deployment_is_deprecated() -> None:
    _, app = registered()
    reply = request(app, "PUT", f"/deployments/{DP_A}", {})
    assert reply.status == 405
    assert reply.json() == {"message": "PUT deployment is deprecated, use PATCH instead", "restate_code": None}


# --- services and handlers -----------------------------------------------------------------------------


def test_services_and_handlers() -> None:
    _, app = registered()
    services = request(app, "GET", "/services").json()["services"]
    assert sorted(s["name"] for s in services) == ["Counter", "Greeter", "Signup"]
    counter = request(app, "GET", "/services/Counter")
    assert canonical(counter.json()) == canonical(transcript("service_counter"))
    handlers = request(app, "GET", "/v4/services/Counter/handlers").json()
    assert canonical(handlers) == canonical(transcript("handlers_counter"))
    add = request(app, "GET", "/v3/services/Counter/handlers/add").json()
    assert canonical(add) == canonical(transcript("handler_add"))


def test_unknown_services_and_handlers_are_404_json() -> None:
    _, app = registered()
    assert request(app, "GET", "/services/Nope").json() == {
        "message": "The requested service 'Nope' does not exist",
        "restate_code": None,
    }
    assert request(app, "GET", "/services/Nope/handlers").status == 404
    reply = request(app, "GET", "/services/Counter/handlers/nope")
    assert (reply.status, reply.json()["message"]) == (
        404,
        "The requested handler 'nope' on service 'Counter' does not exist",
    )


def test_percent_encoded_path_parameters() -> None:
    _, app = registered()
    assert request(app, "GET", "/services/%43ounter").json()["name"] == "Counter"


def test_every_change_bumps_the_schema_version() -> None:
    fake, app = registered()
    request(app, "POST", "/deployments", {"uri": URI_X})
    request(app, "POST", "/deployments", {"uri": URI_B, "breaking": True})
    request(app, "DELETE", f"/deployments/{DP_C}?force=true")
    assert [s.version for s in fake.persisted] == [1, 2, 3, 4]
    assert app.schema.services["Counter"].deployment_id == DP_A


def test_commit_persists_before_it_publishes() -> None:
    order: list[str] = []
    fake = backend()
    app = fake.app()

    async def persist(schema: Schema) -> None:
        order.append(f"persist {schema.version} (visible {app.schema.version})")

    async def publish(schema: Schema) -> None:
        order.append(f"publish {schema.version} (visible {app.schema.version})")

    app.hooks.persist, app.hooks.publish = persist, publish
    request(app, "POST", "/deployments", {"uri": URI_A})
    assert order == ["persist 1 (visible 0)", "publish 1 (visible 1)"]


def test_random_requests_never_crash() -> None:
    rng = random.Random(7)
    _, app = registered()
    paths = [
        "/", "//", "/v4", "/v2/", "/v1", "/deployments", f"/deployments/{DP_A}", "/deployments/%zz", "/services",
        "/services/Counter/handlers", "/services/%FF/handlers/x", "/health?x=%", "/\u00e9", "/v4/deployments/dp_1",
    ]  # fmt: skip
    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD", "TRACE"]
    bodies = [b"", b"{}", b"null", b'{"uri": null}', b'{"uri":"http://127.0.0.1:29080/","force":true}', b"\x00\xff"]

    async def scenario() -> list[int]:
        statuses = []
        for _ in range(300):
            body = rng.choice(bodies) if rng.random() < 0.8 else rng.randbytes(rng.randrange(64))
            query = rng.choice(["", "?force=true", "?force=", "?force=true&force=false", "?%"])
            headers = {"content-type": rng.choice([JSON, "text/plain", ""])}
            reply = await call(app, rng.choice(methods), rng.choice(paths) + query, body, headers=headers)
            statuses.append(reply.status)
        return statuses

    statuses = run(scenario())
    assert all(s in (200, 201, 202, 308, 400, 404, 405, 409, 413, 415, 422, 500, 501) for s in statuses)
    assert 500 not in statuses  # no discovery failure is possible here: every 500 would be a bug
