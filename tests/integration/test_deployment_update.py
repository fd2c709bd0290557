"""`PATCH /deployments/{id}` on the real server and ours (ids real/ours): what is re-discovered, what changes,
and the errors, with discovery stubs (HTTP/1.1 endpoints answering `GET /discover` with a set manifest)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.integration.lifecycle_support import SERVER_KINDS, make_server, unique
from tests.support import RestateServer

MANIFEST_TYPE = "application/vnd.restate.endpointmanifest.v1+json"
UNKNOWN = "dp_10nkKoVeh1nvTe4KYSahBS1"
TEXT = "text/plain; charset=utf-8"


def manifest(services: dict[str, list[str]], max_protocol_version: int = 6) -> dict[str, Any]:
    """A request/response manifest: service name -> handler names (stateless services)."""
    found = [{"name": name, "ty": "SERVICE", "handlers": [{"name": h} for h in hs]} for name, hs in services.items()]
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": max_protocol_version,
        "services": found,
    }


class DiscoveryStub:
    """An HTTP/1.1 endpoint on a free port that answers `GET /discover` with `manifest`; records requests."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.manifest = body
        self.requests: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stub.requests.append({k.lower(): v for k, v in self.headers.items()})
                data = json.dumps(stub.manifest).encode()
                self.send_response(200)
                self.send_header("content-type", MANIFEST_TYPE)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RestateServer]]:
    with contextlib.ExitStack() as stack:
        found = {}
        for kind in SERVER_KINDS:
            server = make_server(kind, tmp_path_factory.mktemp(f"update-{kind}"), partitions=1)
            stack.enter_context(server)
            found[kind] = server
        yield found


@pytest.fixture
def stubs() -> Iterator[list[DiscoveryStub]]:
    made: list[DiscoveryStub] = []
    yield made
    for stub in made:
        stub.close()


class Deployments:
    """One server's admin API, with a deployment registered at a discovery stub per test."""

    def __init__(self, server: RestateServer, stubs: list[DiscoveryStub]) -> None:
        self.server, self.stubs = server, stubs

    def stub(self, services: dict[str, list[str]], max_protocol_version: int = 6) -> DiscoveryStub:
        made = DiscoveryStub(manifest(services, max_protocol_version))
        self.stubs.append(made)
        return made

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.server.client.request(method, f"{self.server.admin_url}{path}", **kwargs)

    def register(self, stub: DiscoveryStub, **extra: Any) -> str:
        body = {"uri": stub.url, "use_http_11": True, "additional_headers": {"x-a": "1"}, "metadata": {"m": "1"}}
        resp = self.admin("POST", "/deployments", json={**body, **extra})
        assert resp.status_code == 201, resp.text
        dp: str = resp.json()["id"]
        return dp

    def patch(self, dp: str, body: Any) -> httpx.Response:
        return self.admin("PATCH", f"/deployments/{dp}", json=body)

    def get(self, dp: str) -> dict[str, Any]:
        resp = self.admin("GET", f"/deployments/{dp}")
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found

    def service_names(self, dp: str) -> list[str]:
        return sorted(s["name"] for s in self.get(dp)["services"])


@pytest.fixture(params=SERVER_KINDS)
def deployments(
    request: pytest.FixtureRequest, servers: dict[str, RestateServer], stubs: list[DiscoveryStub]
) -> Deployments:
    return Deployments(servers[request.param], stubs)


def test_a_body_without_changes_answers_like_a_get_without_discovery(deployments: Deployments) -> None:
    name = unique("Same")
    stub = deployments.stub({name: ["run"]})
    dp = deployments.register(stub)
    before = deployments.get(dp)
    nulls = {"uri": None, "additional_headers": None, "use_http_11": None}
    # without a `uri` member the body is the Lambda variant, which has no use_http_11; `"uri": 5` is not a
    # URI, so the body is the Lambda variant too
    for body in ({}, {"overwrite": True}, nulls, {"use_http_11": False}, {"uri": 5}, {"uri": "not a uri"}):
        resp = deployments.patch(dp, body)
        assert (resp.status_code, resp.json()) == (200, before), body
    assert len(stub.requests) == 1  # the registration's discovery only


def test_a_new_uri_is_discovered_with_the_stored_headers_and_keeps_the_services(deployments: Deployments) -> None:
    name = unique("Moved")
    old = deployments.stub({name: ["run"]})
    dp = deployments.register(old)
    before = deployments.get(dp)
    new = deployments.stub({name: ["run", "other"], unique("Extra"): ["go"]})  # services the update ignores
    resp = deployments.patch(dp, {"uri": new.url.rstrip("/"), "use_http_11": True})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**before, "uri": new.url}
    assert deployments.get(dp) == resp.json()
    assert new.requests[-1]["x-a"] == "1"
    assert [h["name"] for h in deployments.admin("GET", f"/services/{name}").json()["handlers"]] == ["run"]


def test_new_headers_are_discovered_at_the_same_address(deployments: Deployments) -> None:
    stub = deployments.stub({unique("Headers"): ["run"]})
    dp = deployments.register(stub)
    resp = deployments.patch(dp, {"additional_headers": {"X-B": "2"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["additional_headers"] == {"x-b": "2"}
    assert "x-a" not in stub.requests[-1] and stub.requests[-1]["x-b"] == "2"
    assert (resp.json()["protocol_type"], resp.json()["http_version"]) == ("RequestResponse", "HTTP/1.1")


def test_h2c_is_used_unless_use_http_11_goes_with_the_uri(deployments: Deployments) -> None:
    # The stubs speak HTTP/1.1 only: a discovery over h2c fails (the real server says META0014, ours META0003).
    stub = deployments.stub({unique("H2c"): ["run"]})
    dp = deployments.register(stub)
    other = deployments.stub({unique("H2c"): ["run"]})
    for body in ({"uri": other.url}, {"uri": other.url, "use_http_11": False}, {"uri": None, "use_http_11": False}):
        resp = deployments.patch(dp, body)
        assert resp.status_code == 500 and resp.json()["restate_code"].startswith("META"), (body, resp.text)
    assert (len(stub.requests), len(other.requests)) == (1, 0) and deployments.get(dp)["uri"] == stub.url
    # with a new header only, the deployment's own HTTP version is used
    assert deployments.patch(dp, {"additional_headers": {}, "use_http_11": False}).status_code == 200
    assert len(stub.requests) == 2


def test_dry_run_stores_nothing(deployments: Deployments) -> None:
    name = unique("Dry")
    stub = deployments.stub({name: ["run"]})
    dp = deployments.register(stub)
    other = deployments.stub({name: ["run"]})
    resp = deployments.patch(dp, {"uri": other.url, "use_http_11": True, "dry_run": True})
    assert (resp.status_code, resp.json()["uri"]) == (200, other.url)
    assert len(other.requests) == 1 and deployments.get(dp)["uri"] == stub.url


def test_overwrite_replaces_the_services_at_their_revisions(deployments: Deployments) -> None:
    kept, dropped, added = unique("Kept"), unique("Dropped"), unique("Added")
    stub = deployments.stub({kept: ["run"], dropped: ["run"]})
    dp = deployments.register(stub)
    other = deployments.stub({kept: ["run", "more"], added: ["go"]})
    resp = deployments.patch(dp, {"uri": other.url, "use_http_11": True, "overwrite": True})
    assert resp.status_code == 200, resp.text
    assert sorted((s["name"], s["revision"]) for s in resp.json()["services"]) == sorted([(kept, 1), (added, 1)])
    assert deployments.admin("GET", f"/services/{dropped}").status_code == 404
    handlers = deployments.admin("GET", f"/services/{kept}").json()["handlers"]
    assert sorted(h["name"] for h in handlers) == ["more", "run"]


def test_other_protocol_versions_are_refused(deployments: Deployments) -> None:
    name = unique("Proto")
    dp = deployments.register(deployments.stub({name: ["run"]}))
    narrower = deployments.stub({name: ["run"]}, max_protocol_version=5)
    for overwrite in (False, True):
        resp = deployments.patch(dp, {"uri": narrower.url, "use_http_11": True, "overwrite": overwrite})
        assert (resp.status_code, resp.json()) == (400, {
            "message": "[META0016] an update deployment operation must provide an endpoint with the same services "
            "and handlers. The update tried to change the supported protocol versions from 5..=6 to 5..=5",
            "restate_code": "META0016",
        })  # fmt: skip


def test_errors(deployments: Deployments) -> None:
    dp = deployments.register(deployments.stub({unique("Errors"): ["run"]}))
    unreachable = deployments.patch(dp, {"uri": "http://127.0.0.1:1/", "use_http_11": True})
    assert unreachable.status_code == 500
    assert unreachable.json()["message"].startswith("[META0003] [META0003] error when calling 'http://127.0.0.1:1/'")
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:f:1"
    lam = deployments.patch(dp, {"arn": arn})  # the real server tries to discover the Lambda
    assert (lam.status_code, lam.json()["restate_code"]) == (500, "META0003")
    assert lam.json()["message"].startswith(f"[META0003] [META0003] error when calling '{arn}': ")
    role = deployments.patch(dp, {"assume_role_arn": "arn:aws:iam::123456789012:role/r"})
    assert (role.status_code, role.json()) == (400, {
        "message": "cannot update the deployment, as the deployment type is http while the update options are for "
        "type lambda",
        "restate_code": None,
    })  # fmt: skip
    relative = deployments.patch(dp, {"uri": "/relative"})
    assert (relative.status_code, relative.json()["message"]) == (
        400, "The request field 'uri' is invalid. Reason: The provided uri /relative is not absolute, only "
        "absolute URIs can be used.",
    )  # fmt: skip
    for body in ({"overwrite": "yes"}, []):
        refused = deployments.patch(dp, body)
        assert (refused.status_code, refused.headers["content-type"]) == (422, TEXT), body
        assert refused.text.endswith("data did not match any variant of untagged enum UpdateDeploymentRequest")
    no_json = deployments.admin("PATCH", f"/deployments/{dp}", content=b"{}")
    assert (no_json.status_code, no_json.text) == (415, "Expected request with `Content-Type: application/json`")


def test_unknown_and_malformed_deployment_ids(deployments: Deployments) -> None:
    empty = deployments.patch(UNKNOWN, {})
    assert (empty.status_code, empty.json()) == (
        404, {"message": f"The requested deployment '{UNKNOWN}' does not exist", "restate_code": None},
    )  # fmt: skip
    change = deployments.patch(UNKNOWN, {"uri": "http://127.0.0.1:1/"})
    assert (change.status_code, change.json()) == (empty.status_code, empty.json())
    bad = deployments.patch("nope", {})
    assert (bad.status_code, bad.headers["content-type"]) == (400, TEXT)
