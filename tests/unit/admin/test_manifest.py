"""Endpoint manifest parsing: real SDK manifests, protocol checks, bad manifests and their error messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from restate.admin.errors import AdminError
from restate.admin.manifest import ACCEPT, MANIFEST_CONTENT_TYPES, parse_manifest
from restate.schema import InputRules, OutputRules
from tests.unit.admin.helpers import SDK, V4, discovered, discovered_from, manifest_bytes, manifest_json


def _fails(manifest: dict[str, Any] | bytes, content_type: str | None = V4) -> AdminError:
    body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    with pytest.raises(AdminError) as info:
        parse_manifest(content_type, body, "HTTP/2.0", SDK)
    return info.value


def test_accept_offers_v1_to_v4_like_the_real_server() -> None:
    assert ACCEPT == (
        "application/vnd.restate.endpointmanifest.v1+json, application/vnd.restate.endpointmanifest.v2+json, "
        "application/vnd.restate.endpointmanifest.v3+json, application/vnd.restate.endpointmanifest.v4+json"
    )


@pytest.mark.parametrize("content_type", MANIFEST_CONTENT_TYPES)
def test_every_offered_content_type_is_accepted(content_type: str) -> None:
    assert parse_manifest(content_type, manifest_bytes("transcript"), "HTTP/2.0").protocol_type == "BidiStream"


def test_real_sdk_manifest() -> None:
    found = discovered("transcript")
    assert (found.protocol_type, found.http_version) == ("BidiStream", "HTTP/2.0")
    assert (found.min_protocol_version, found.max_protocol_version, found.sdk_version) == (5, 7, SDK)
    services = {s.name: s for s in found.services}
    assert {n: s.ty for n, s in services.items()} == {
        "Greeter": "Service",
        "Counter": "VirtualObject",
        "Signup": "Workflow",
    }
    assert list(services["Greeter"].handlers) == ["greet", "retrying", "slow", "waiter", "fail", "noinput"]
    assert all(h.ty is None for h in services["Greeter"].handlers.values())
    assert {n: h.ty for n, h in services["Counter"].handlers.items()} == {
        "add": "Exclusive",
        "block": "Exclusive",
        "get": "Shared",
    }
    assert {n: h.ty for n, h in services["Signup"].handlers.items()} == {
        "run": "Workflow",
        "stage": "Shared",
        "click": "Shared",
    }


def test_input_and_output_rules() -> None:
    greeter = discovered("transcript").services[0]
    greet, noinput = greeter.handlers["greet"], greeter.handlers["noinput"]
    assert greet.input == InputRules(False, "application/json", {"type": "string"}, False)
    assert greet.output == OutputRules("application/json", False, {"type": "string"})
    assert noinput.input == InputRules(False, None, None, True)
    hidden = discovered("tuned").services[0].handlers["hidden"]
    assert hidden.output == OutputRules(None, False, None)


def test_absent_input_and_output_take_the_defaults() -> None:
    manifest = manifest_json("transcript")
    del manifest["services"][0]["handlers"][0]["input"]
    del manifest["services"][0]["handlers"][0]["output"]
    greet = discovered_from(manifest).services[0].handlers["greet"]
    assert greet.input == InputRules()  # none, or any content type
    assert greet.output == OutputRules("application/json", False, None)


def test_policies_in_milliseconds() -> None:
    tuned = discovered("tuned").services[0]
    assert (tuned.documentation, tuned.metadata) == ("A service with every policy set", {"team": "a"})
    assert (tuned.inactivity_timeout_ms, tuned.abort_timeout_ms) == (90_000, 120_000)
    assert (tuned.journal_retention_ms, tuned.idempotency_retention_ms) == (7_200_000, 259_200_000)
    policy = tuned.retry_policy
    assert (policy.initial_interval_ms, policy.max_interval_ms, policy.max_attempts) == (250, 30_000, 5)
    assert (policy.exponentiation_factor, policy.on_max_attempts) == (1.5, "Kill")
    echo, hidden = tuned.handlers["echo"], tuned.handlers["hidden"]
    assert (echo.inactivity_timeout_ms, echo.retry_policy.max_attempts) == (5_000, 3)
    assert (echo.public, hidden.public, tuned.public) == (True, False, True)


def test_request_response_mode_and_http_version() -> None:
    found = discovered("extra", "HTTP/1.1")
    assert (found.protocol_type, found.http_version) == ("RequestResponse", "HTTP/1.1")


def test_bidi_over_http11_is_trusted() -> None:
    found = parse_manifest(V4, manifest_bytes("transcript"), "HTTP/1.1")
    assert found.protocol_type == "BidiStream"


def test_duplicate_services_keep_the_last() -> None:
    manifest = manifest_json("transcript")
    twin = copy.deepcopy(manifest["services"][0])
    twin["handlers"] = twin["handlers"][:1]
    manifest["services"].append(twin)
    services = discovered_from(manifest).services
    assert [s.name for s in services] == ["Greeter", "Counter", "Signup"]
    assert list(services[0].handlers) == ["greet"]


def test_unknown_fields_are_ignored() -> None:
    manifest = manifest_json("transcript")
    manifest["futureField"] = 1
    manifest["services"][0]["eagerStateKeysWhitelist"] = ["a"]
    assert len(discovered_from(manifest).services) == 3


@pytest.mark.parametrize("content_type", [None, "application/json", "application/vnd.restate.endpointmanifest.v5+json"])
def test_content_type_must_be_an_offered_one(content_type: str | None) -> None:
    err = _fails(manifest_bytes("transcript"), content_type)
    assert (err.status, err.code) == (500, "META0013")
    assert err.message.startswith("[META0013] [META0013] received a bad response from the SDK: ")
    assert ("No content type header" in err.message) == (content_type is None)


def test_protocol_mode_is_required() -> None:
    manifest = manifest_json("transcript")
    del manifest["protocolMode"]
    err = _fails(manifest)
    assert (err.status, err.code) == (500, "META0013")
    assert err.message == "[META0013] [META0013] received a bad response from the SDK: missing protocol mode"


@pytest.mark.parametrize(
    ("low", "high", "code"),
    [(1, 4, "META0012"), (8, 9, "META0012"), (7, 5, "META0013"), (1, 2**31, "META0013"), (4, 5, None), (7, 99, None)],
)
def test_protocol_versions_must_overlap_5_to_7(low: int, high: int, code: str | None) -> None:
    manifest = manifest_json("transcript") | {"minProtocolVersion": low, "maxProtocolVersion": high}
    if code is None:
        found = discovered_from(manifest)
        assert (found.min_protocol_version, found.max_protocol_version) == (low, high)
        return
    err = _fails(manifest)
    assert (err.status, err.code) == (500, code)
    if code == "META0012":
        assert (
            f"unsupported service protocol versions: [{low}, {high}]. Supported versions by this runtime are [5, 7]"
            in (err.message)
        )


def test_old_typescript_sdks_are_capped_at_protocol_1() -> None:
    with pytest.raises(AdminError) as info:
        parse_manifest(V4, manifest_bytes("transcript"), "HTTP/2.0", "restate-sdk-typescript/1.1.3")
    assert info.value.code == "META0012"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m["services"][0].update(name="1bad"),
        lambda m: m["services"][0].update(name="has space"),
        lambda m: m["services"][0]["handlers"][0].update(name="dotted.name"),
        lambda m: m["services"][0].update(ty="ACTOR"),
        lambda m: m["services"][0].pop("ty"),
        lambda m: m["services"][0].pop("handlers"),
        lambda m: m["services"][0]["handlers"][0].pop("name"),
        lambda m: m.pop("services"),
        lambda m: m.pop("minProtocolVersion"),
        lambda m: m.update(minProtocolVersion=0),
        lambda m: m["services"][0].update(inactivityTimeout=-1),
        lambda m: m["services"][0].update(retryPolicyOnMaxAttempts="RETRY"),
        lambda m: m["services"][0]["handlers"][0]["input"].update(required="yes"),
        lambda m: m["services"][0].update(metadata={"a": 1}),
    ],
)
def test_malformed_manifests_are_decode_errors(mutate: Any) -> None:
    manifest = manifest_json("transcript")
    mutate(manifest)
    err = _fails(manifest)
    assert (err.status, err.code) == (500, None)
    assert err.message.startswith("received a bad response from the SDK that cannot be decoded: ")
    assert "Discovery response: {" in err.message


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"services": {}}', b"\xff\xfe"])
def test_garbage_bodies_are_decode_errors(body: bytes) -> None:
    assert _fails(body).status == 500


@pytest.mark.parametrize(
    ("service", "handler_ty", "shown"),
    [
        ("SERVICE", "EXCLUSIVE", "(Service, Some(Exclusive))"),
        ("VIRTUAL_OBJECT", "WORKFLOW", "(VirtualObject, Some(Workflow))"),
    ],
)
def test_bad_service_and_handler_type_combinations(service: str, handler_ty: str, shown: str) -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["ty"] = service
    manifest["services"][0]["handlers"][0]["ty"] = handler_ty
    err = _fails(manifest)
    assert (err.status, err.code) == (400, None)
    assert err.message == f"invalid combination of service type and handler type '{shown}'"


def test_shared_handlers_on_plain_services_are_fine_and_typeless() -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["handlers"][0]["ty"] = "SHARED"
    assert discovered_from(manifest).services[0].handlers["greet"].ty is None


def test_workflow_handlers_default_to_shared() -> None:
    manifest = manifest_json("transcript")
    del manifest["services"][2]["handlers"][1]["ty"]
    assert discovered_from(manifest).services[2].handlers["stage"].ty == "Shared"


def test_retention_rules_for_workflow_handlers() -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["handlers"][0]["workflowCompletionRetention"] = 1000
    assert _fails(manifest).message == "greet sets the workflow_completion_retention, but it's not a Workflow handler"
    manifest = manifest_json("transcript")
    manifest["services"][2]["handlers"][0]["idempotencyRetention"] = 1000
    assert _fails(manifest).message == "run sets the idempotency_retention, but it's a Workflow handler"
    manifest = manifest_json("transcript")
    manifest["services"][2]["handlers"][0]["workflowCompletionRetention"] = 1000
    assert discovered_from(manifest).services[2].handlers["run"].workflow_completion_retention_ms == 1000


def test_private_service_cannot_have_public_handlers() -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["ingressPrivate"] = True
    manifest["services"][0]["handlers"][0]["ingressPrivate"] = False
    err = _fails(manifest)
    assert err.status == 400
    assert err.message.startswith("The service Greeter is private, but the greet is explicitly set as public.")
    manifest["services"][0]["handlers"][0].pop("ingressPrivate")
    greeter = discovered_from(manifest).services[0]
    assert not greeter.public and not greeter.handlers["greet"].public


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [("json", "must contain one /"), ("*/json", "the wildcard format */subType is not supported")],
)
def test_bad_input_content_types(content_type: str, reason: str) -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["handlers"][0]["input"]["contentType"] = content_type
    err = _fails(manifest)
    assert err.status == 400
    assert err.message == (
        f"the handler 'greet' input content-type is not valid: can't parse the content-type '{content_type}': {reason}"
    )


def test_bad_output_content_type() -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["handlers"][0]["output"]["contentType"] = "text/plain\n"
    err = _fails(manifest)
    assert err.message == "the handler 'greet' output content-type is not valid: failed to parse header value"


def test_retry_attempts_zero_means_one() -> None:
    manifest = manifest_json("transcript")
    manifest["services"][0]["retryPolicyMaxAttempts"] = 0
    assert discovered_from(manifest).services[0].retry_policy.max_attempts == 1
