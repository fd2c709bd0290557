"""`GET /services/{name}/openapi` and `GET /openapi` through the admin app.

The per-service documents follow what restate-server 1.7.12 served for the same services
(tests/integration/test_admin.py compares them with the real server's, byte for byte).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from restate.admin.app import NOT_SUPPORTED, ROUTES, AdminApp
from tests.unit.admin.helpers import FakeBackend, Reply, call, discovered, discovered_from

URI_A = "http://127.0.0.1:29080/"
URI_B = "http://127.0.0.1:29081/"
JSON_STRING = {"required": False, "contentType": "application/json", "jsonSchema": {"type": "string"}}
DOCUMENTED = {
    "name": "Documented",
    "ty": "VIRTUAL_OBJECT",
    "documentation": "A documented object",
    "metadata": {"team": "a"},
    "handlers": [
        {
            "name": "tagged",
            "documentation": "Does a thing",
            "metadata": {"k": "v"},
            "input": {"required": True, "contentType": "application/json",
                      "jsonSchema": {"$ref": "#/$defs/Item", "$defs": {"Item": {"type": "string"}}}},
            "output": {"contentType": "text/plain"},
        },
        {"name": "hidden", "ingressPrivate": True, "input": JSON_STRING},
        {"name": "raw"},
        {"name": "nothing", "input": {}, "output": {}},
    ],
}  # fmt: skip


def request(app: AdminApp, method: str, path: str) -> Reply:
    return asyncio.run(call(app, method, path))


def app_with_services() -> AdminApp:
    manifest = {"protocolMode": "BIDI_STREAM", "minProtocolVersion": 5, "maxProtocolVersion": 7,
                "services": [DOCUMENTED]}  # fmt: skip
    fake = FakeBackend(endpoints={URI_A: discovered("transcript"), URI_B: discovered_from(manifest)})
    app = fake.app()
    for uri in (URI_A, URI_B):
        assert asyncio.run(call(app, "POST", "/deployments", {"uri": uri})).status == 201
    return app


def document(app: AdminApp, service: str) -> dict[str, Any]:
    reply = request(app, "GET", f"/services/{service}/openapi")
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    return json.loads(reply.body)  # type: ignore[no-any-return]


def test_a_stateless_service() -> None:
    doc = document(app_with_services(), "Greeter")
    servers = [{"description": "Restate Ingress URL", "url": "http://127.0.0.1:28080/"}]
    assert (doc["openapi"], doc["info"], doc["servers"]) == ("3.1.0", {"title": "Greeter", "version": "1"}, servers)
    by_key = "/restate/invocation/Greeter/greet/{idempotencyKey}"
    assert set(doc["paths"]) >= {
        "/restate/call/Greeter/greet", "/restate/send/Greeter/greet", f"{by_key}/attach", f"{by_key}/output",
    }  # fmt: skip
    call_op = doc["paths"]["/restate/call/Greeter/greet"]["post"]
    assert call_op == {
        "description": "Call Greeter handler greet and wait for response",
        "operationId": "greet",
        "parameters": [{"$ref": "#/components/parameters/idempotencyKeyHeader"}],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/greetRequest"}}},
                        "required": False},
        "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/greetResponse"}}},
                    "description": ""},
            "default": {"$ref": "#/components/responses/GenericError"},
        },
        "summary": "greet",
    }  # fmt: skip
    noinput = doc["paths"]["/restate/send/Greeter/noinput"]["post"]
    assert "requestBody" not in noinput and noinput["tags"] == ["Send"]
    assert noinput["parameters"][-1] == {"$ref": "#/components/parameters/delay"}
    output = doc["paths"]["/restate/invocation/Greeter/greet/{idempotencyKey}/output"]["get"]
    assert output["deprecated"] is True and set(output["responses"]) == {"200", "404", "470", "default"}
    assert output["description"].startswith("Deprecated: use POST /restate/lookup with with idempotency information")
    assert doc["components"]["schemas"]["greetRequest"] == {"type": "string"}
    assert list(doc["components"]["schemas"])[0] == "RestateError"  # keys sorted, as the real server prints them


def test_objects_take_the_key_and_workflows_attach_only_to_run() -> None:
    app = app_with_services()
    counter = document(app, "Counter")["paths"]["/restate/call/Counter/{key}/add"]["post"]
    assert counter["parameters"] == [
        {"$ref": "#/components/parameters/key"}, {"$ref": "#/components/parameters/idempotencyKeyHeader"},
    ]  # fmt: skip
    signup = document(app, "Signup")["paths"]
    retrieval = sorted(p for p in signup if not p.startswith(("/restate/call/", "/restate/send/")))
    assert retrieval == ["/restate/workflow/Signup/{key}/attach", "/restate/workflow/Signup/{key}/output"]
    assert signup["/restate/call/Signup/{key}/run"]["post"]["parameters"] == [{"$ref": "#/components/parameters/key"}]


def test_documentation_metadata_private_handlers_and_refs() -> None:
    doc = document(app_with_services(), "Documented")
    assert doc["info"] == {"title": "Documented", "version": "1", "description": "A documented object",
                           "x-restate-extensions": {"team": "a"}}  # fmt: skip
    assert not any("hidden" in path for path in doc["paths"])  # an ingress-private handler has no route
    tagged = doc["paths"]["/restate/call/Documented/{key}/tagged"]["post"]
    assert (tagged["description"], tagged["x-restate-extensions"]) == ("Does a thing", {"k": "v"})
    assert tagged["requestBody"]["required"] is True
    assert tagged["responses"]["200"] == {"content": {"text/plain": {}}, "description": ""}
    assert doc["components"]["schemas"]["taggedRequest"] == {
        "$defs": {"Item": {"type": "string"}}, "$ref": "#/components/schemas/taggedRequest/$defs/Item",
    }  # fmt: skip
    raw = doc["paths"]["/restate/call/Documented/{key}/raw"]["post"]
    assert raw["requestBody"] == {"content": {"*/*": {}}, "required": False}
    attach = doc["paths"]["/restate/invocation/Documented/{key}/tagged/{idempotencyKey}/attach"]["get"]
    assert attach["description"].endswith("GET /restate/attach/{invocationId}. Does a thing")
    nothing = doc["paths"]["/restate/call/Documented/{key}/nothing"]["post"]
    assert "requestBody" not in nothing and nothing["responses"]["200"] == {"description": "Empty"}


def test_unknown_service_is_404() -> None:
    reply = request(app_with_services(), "GET", "/services/Nope/openapi")
    assert (reply.status, json.loads(reply.body)) == (
        404, {"message": "The requested service 'Nope' does not exist", "restate_code": None},
    )  # fmt: skip


def route_handler(method: str, path: str) -> object:
    """The handler ROUTES has for a document path (`{param}` segments match any parameter)."""
    segments = path.strip("/").split("/")
    for pattern, methods in ROUTES:
        if len(pattern) == len(segments) and all(
            p == s or p[0] == s[0] == "{" for p, s in zip(pattern, segments, strict=True)
        ):
            return methods.get(method.upper())
    return None


def test_admin_document_lists_exactly_the_served_operations() -> None:
    reply = request(FakeBackend().app(), "GET", "/openapi")
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    doc = json.loads(reply.body)
    assert doc["info"]["title"] == "Admin API" and doc["openapi"] == "3.1.0"
    served = set()
    for path, item in doc["paths"].items():
        for method in item:
            handler = route_handler(method, path)
            assert handler is not None and handler not in NOT_SUPPORTED, (method, path)
            served.add((method, path))
    assert ("post", "/query") in served and ("get", "/services/{service}/openapi") in served
    assert not any("restart-as-new" in p for _, p in served)
    assert ("post", "/subscriptions") in served and ("patch", "/kafka-clusters/{cluster_name}") in served
    text = reply.body.decode()
    for kind, names in doc["components"].items():  # every component is used, every reference resolves
        for name in names:
            assert f'"#/components/{kind}/{name}"' in text
    for ref in {r for r in text.split('"$ref":"')[1:]}:
        kind, name = ref.split('"', 1)[0].removeprefix("#/components/").split("/")
        assert name in doc["components"][kind]
