"""JSON shapes compared with the real server's transcripts: field names, order, durations, omitted keys."""

from __future__ import annotations

import pytest

from restate.admin.manifest import HttpVersion
from restate.admin.registry import RegisterRequest, add_deployment, parse_uri
from restate.admin.views import (
    deployment_detail,
    deployment_summary,
    friendly_duration,
    handler_metadata,
    input_description,
    output_description,
    register_response,
    service_metadata,
    service_view,
    timestamp,
)
from restate.schema import InputRules, OutputRules, Schema
from tests.unit.admin.helpers import CONFIG, DP_A, DP_B, T0, canonical, discovered, transcript

T_FORCE = 1_795_273_551_153  # 15:05:51.153
T_EXTRA = 1_795_273_559_806  # 15:05:59.806


def _register(
    schema: Schema,
    uri: str,
    manifest: str,
    dp: str,
    now: int,
    headers: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    force: bool = False,
) -> Schema:
    parsed = parse_uri(uri)
    assert parsed is not None
    version: HttpVersion = "HTTP/1.1" if manifest == "extra" else "HTTP/2.0"
    req = RegisterRequest(parsed, headers or {}, metadata or {}, force=force)
    return add_deployment(
        schema, req, discovered(manifest, version), overwrite=force, allow_breaking=force, now_ms=now, new_id=dp
    ).schema


def _transcript_schema() -> Schema:
    return _register(Schema(), "http://127.0.0.1:29080", "transcript", DP_A, T0)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (500, "500ms"),
        (60_000, "1m"),
        (600_000, "10m"),
        (90_000, "1m 30s"),
        (7_200_000, "2h"),
        (86_400_000, "1d"),
        (129_842_000, "1d 12h 4m 2s"),
        (1_500, "1s 500ms"),
        (30 * 86_400_000, "30d"),
    ],
)
def test_friendly_durations(ms: int, text: str) -> None:
    assert friendly_duration(ms) == text


def test_timestamps_have_nanosecond_digits() -> None:
    assert timestamp(T0) == "2026-11-21T15:05:12.996000000Z"
    assert timestamp(0) == "1970-01-01T00:00:00.000000000Z"


def test_register_response_matches_the_transcript() -> None:
    schema = _transcript_schema()
    assert canonical(register_response(schema, DP_A, CONFIG)) == canonical(transcript("register_response"))


def test_http11_registration_matches_the_transcript() -> None:
    schema = _register(
        Schema(), "http://127.0.0.1:29081/", "extra", DP_B, T_EXTRA, headers={"x-my-header": "secret-val"},
        metadata={"team": "a"},
    )  # fmt: skip
    body = register_response(schema, DP_B, CONFIG)
    assert canonical(body) == canonical(transcript("register_http11"))
    assert body["services"][0]["inactivity_timeout"] == "0s"


def test_list_entry_matches_the_transcript() -> None:
    dep = _transcript_schema().deployments[DP_A]
    assert canonical({"deployments": [deployment_summary(dep)]}) == canonical(transcript("list_one"))


def test_list_with_headers_metadata_and_revisions_matches_the_transcript() -> None:
    schema = _transcript_schema()
    for _ in range(2):
        schema = _register(schema, "http://127.0.0.1:29080/", "transcript", DP_A, T_FORCE, force=True)
    schema = _register(
        schema, "http://127.0.0.1:29081/", "extra", DP_B, T_EXTRA, headers={"x-my-header": "secret-val"},
        metadata={"team": "a"},
    )  # fmt: skip
    entries = [deployment_summary(d) for d in schema.deployments.values()]
    assert canonical({"deployments": entries}) == canonical(transcript("list_two"))


def test_service_handlers_and_handler_match_the_transcript() -> None:
    schema = _transcript_schema()
    counter = schema.services["Counter"]
    assert canonical(service_view(schema, counter, CONFIG)) == canonical(transcript("service_counter"))
    handlers = [handler_metadata(h) for h in counter.handlers.values()]
    assert canonical({"handlers": handlers}) == canonical(transcript("handlers_counter"))
    assert canonical(handler_metadata(counter.handlers["add"])) == canonical(transcript("handler_add"))


def test_detail_has_full_services_and_the_summary_fields() -> None:
    schema = _transcript_schema()
    detail = deployment_detail(schema, schema.deployments[DP_A], CONFIG)
    summary = deployment_summary(schema.deployments[DP_A])
    assert list(detail) == list(summary)
    assert [s["name"] for s in detail["services"]] == ["Greeter", "Counter", "Signup"]
    assert detail["services"][2]["workflow_completion_retention"] == "1d"


def test_plain_service_handlers_have_no_ty() -> None:
    greeter = _transcript_schema().services["Greeter"]
    assert all("ty" not in handler_metadata(h) for h in greeter.handlers.values())
    assert handler_metadata(greeter.handlers["noinput"])["input_description"] == "none"
    assert "input_json_schema" not in handler_metadata(greeter.handlers["noinput"])


def test_policies_documentation_and_metadata() -> None:
    tuned = discovered("tuned").services[0]
    body = service_metadata(tuned, "BidiStream", CONFIG)
    assert list(body)[:5] == ["name", "ty", "handlers", "documentation", "metadata"]
    assert (body["documentation"], body["metadata"]) == ("A service with every policy set", {"team": "a"})
    assert (body["idempotency_retention"], body["journal_retention"]) == ("3d", "2h")
    assert (body["inactivity_timeout"], body["abort_timeout"]) == ("1m 30s", "2m")
    assert body["retry_policy"] == {
        "initial_interval": "250ms",
        "exponentiation_factor": 1.5,
        "max_attempts": 5,
        "max_interval": "30s",
        "on_max_attempts": "Kill",
    }
    echo, hidden = body["handlers"]
    assert (echo["inactivity_timeout"], echo["retry_policy"]) == ("5s", {"max_attempts": 3})
    assert (echo["input_description"], echo["output_description"]) == ("text/*", "text/plain")
    assert (echo["input_json_schema"], echo["output_json_schema"]) == (True, True)
    assert (hidden["public"], hidden["input_description"], hidden["output_description"]) == (False, "none", "none")
    assert "info" not in body and "info" not in echo


def test_request_response_drops_inactivity_and_explains_why() -> None:
    tuned = discovered("tuned").services[0]
    body = service_metadata(tuned, "RequestResponse", CONFIG)
    assert body["inactivity_timeout"] == "0s"
    assert body["info"] == [
        {
            "code": "RT0021",
            "message": "The configured inactivity_timeout 1m 30s will not be applied because the service is "
            "exposed in Request/Response mode.",
        }
    ]
    echo = body["handlers"][0]
    assert "inactivity_timeout" not in echo and echo["info"][0]["code"] == "RT0021"


@pytest.mark.parametrize(
    ("rules", "text"),
    [
        (InputRules(), "*/*"),
        (InputRules(False, None, None, True), "none"),
        (InputRules(True, "application/json", {"type": "object"}), "JSON object"),
        (InputRules(False, "application/json", {"title": "Person", "type": "object"}), "JSON 'Person'"),
        (InputRules(False, "application/json", {}), "application/json"),
        (InputRules(True, "application/octet-stream"), "application/octet-stream"),
        (InputRules(True, None), "<invalid rules>"),
    ],
)
def test_input_descriptions(rules: InputRules, text: str) -> None:
    assert input_description(rules) == text


@pytest.mark.parametrize(
    ("rules", "text"),
    [
        (OutputRules("application/json"), "application/json"),
        (OutputRules(None), "none"),
        (OutputRules("application/proto", True), "optional application/proto"),
        (OutputRules("application/json", False, {"type": "integer"}), "JSON integer"),
    ],
)
def test_output_descriptions(rules: OutputRules, text: str) -> None:
    assert output_description(rules) == text
