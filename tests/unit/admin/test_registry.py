"""Registration semantics: 201/200/409, force, breaking, dry-run inputs, API versions, deletion, revisions."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from restate.admin import registry
from restate.admin.errors import AdminError, PlainError
from restate.admin.registry import (
    RegisterRequest,
    add_deployment,
    delete_deployment,
    deployment_services,
    find_existing,
    parse_register_body,
    parse_uri,
    resolve_flags,
    status_for,
)
from restate.schema import Schema
from tests.unit.admin.helpers import DP_A, DP_B, DP_C, T0, discovered

URI_A = "http://127.0.0.1:29080/"
URI_B = "http://127.0.0.1:29082/"


def _req(
    uri: str = URI_A, headers: dict[str, str] | None = None, force: bool | None = None, breaking: bool = False
) -> RegisterRequest:
    parsed = parse_uri(uri)
    assert parsed is not None
    return RegisterRequest(parsed, headers or {}, {}, force=force, breaking=breaking)


def _add(
    schema: Schema, req: RegisterRequest, manifest: str, new_id: str, api: int | None = None, now: int = T0
) -> registry.Registration:
    overwrite, breaking = resolve_flags(req, api)
    return add_deployment(
        schema, req, discovered(manifest), overwrite=overwrite, allow_breaking=breaking, now_ms=now, new_id=new_id
    )


def _registered() -> Schema:
    return _add(Schema(), _req(), "transcript", DP_A).schema


# --- request parsing ---------------------------------------------------------------------------------


def test_uri_is_normalised_with_a_trailing_slash() -> None:
    parsed = parse_register_body(b'{"uri":"http://127.0.0.1:29080"}')
    assert isinstance(parsed, RegisterRequest)
    assert str(parsed.uri) == URI_A
    assert (parsed.force, parsed.breaking, parsed.dry_run, parsed.use_http_11) == (None, False, False, False)


def test_full_http_request() -> None:
    parsed = parse_register_body(
        b'{"uri":"http://127.0.0.1:29081/","additional_headers":{"X-My-Header":"secret-val"},'
        b'"use_http_11":true,"metadata":{"team":"a"},"force":false,"breaking":true,"dry_run":true,"extra":1}'
    )
    assert isinstance(parsed, RegisterRequest)
    assert parsed.additional_headers == {"x-my-header": "secret-val"}
    assert (parsed.metadata, parsed.use_http_11, parsed.force, parsed.breaking, parsed.dry_run) == (
        {"team": "a"},
        True,
        False,
        True,
        True,
    )


def test_null_additional_headers_as_the_cli_sends() -> None:
    parsed = parse_register_body(b'{"uri":"http://a:1/","additional_headers":null}')
    assert isinstance(parsed, RegisterRequest) and parsed.additional_headers == {}


UNTAGGED_BODIES = [
    b'{"uri":"not a uri"}',
    b'{"foo":1}',
    b"[]",
    b"1",
    b'{"uri":1}',
    b'{"uri":"http://a:1/","force":"yes"}',
    b'{"uri":"http://a:1/","metadata":null}',
    b'{"uri":"http://a:1/","additional_headers":{"bad header":"x"}}',
    b'{"uri":"http://a:1/","additional_headers":{"x":"line\\nbreak"}}',
    b'{"uri":"http://a:notaport/"}',
]


@pytest.mark.parametrize("body", UNTAGGED_BODIES)
def test_bodies_matching_no_variant_are_422(body: bytes) -> None:
    with pytest.raises(PlainError) as info:
        parse_register_body(body)
    assert info.value.status == 422
    assert info.value.text == registry.UNTAGGED


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"nope", b'{"uri":'])
def test_syntax_errors_are_400(body: bytes) -> None:
    with pytest.raises(PlainError) as info:
        parse_register_body(body)
    assert info.value.status == 400
    assert info.value.text.startswith("Failed to parse the request body as JSON: ")


@pytest.mark.parametrize("uri", ["/relative", "127.0.0.1:9080"])
def test_relative_uris_are_an_invalid_field(uri: str) -> None:
    with pytest.raises(AdminError) as info:
        parse_register_body(f'{{"uri":"{uri}"}}'.encode())
    assert info.value.status == 400
    assert info.value.message == (
        f"The request field 'uri' is invalid. Reason: The provided uri {uri} is not absolute, "
        "only absolute URIs can be used."
    )


def test_lambda_requests_parse() -> None:
    parsed = parse_register_body(b'{"arn":"arn:aws:lambda:eu-central-1:123456789012:function:my-fn:1"}')
    assert isinstance(parsed, registry.LambdaRequest)


# --- flags and statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("force", "breaking", "api", "expected"),
    [
        (None, False, None, (False, False)),
        (None, False, 4, (False, False)),
        (None, False, 3, (False, False)),
        (None, False, 2, (True, True)),
        (False, False, 2, (False, False)),
        (True, False, 4, (True, True)),
        (None, True, 4, (False, True)),
    ],
)
def test_force_defaults_and_implies_breaking(
    force: bool | None, breaking: bool, api: int | None, expected: tuple[bool, bool]
) -> None:
    assert resolve_flags(_req(force=force, breaking=breaking), api) == expected


@pytest.mark.parametrize(
    ("kind", "api", "status"),
    [
        ("created", None, 201),
        ("created", 2, 201),
        ("overwritten", None, 200),
        ("overwritten", 3, 200),
        ("overwritten", 2, 201),
        ("unchanged", None, 200),
        ("unchanged", 4, 200),
    ],
)
def test_status_table(kind: registry.RegistrationKind, api: int | None, status: int) -> None:
    assert status_for(kind, DP_A, api) == status


def test_unchanged_on_v2_is_a_conflict() -> None:
    with pytest.raises(AdminError) as info:
        status_for("unchanged", DP_A, 2)
    assert (info.value.status, info.value.message) == (409, f"Conflict: deployment {DP_A} already exists")


# --- registration ------------------------------------------------------------------------------------


def test_new_deployment_is_created_with_revision_1() -> None:
    result = _add(Schema(), _req(), "transcript", DP_A)
    assert (result.kind, result.deployment_id, result.changed) == ("created", DP_A, True)
    schema = result.schema
    assert schema.version == 1
    dep = schema.deployments[DP_A]
    assert (dep.uri, dep.protocol_type, dep.http_version, dep.created_at_ms) == (URI_A, "BidiStream", "HTTP/2.0", T0)
    assert dep.services == {"Greeter": 1, "Counter": 1, "Signup": 1}
    assert all(s.deployment_id == DP_A and s.revision == 1 for s in schema.services.values())


def test_same_uri_without_force_is_unchanged_and_keeps_the_schema() -> None:
    schema = _registered()
    result = _add(schema, _req("http://127.0.0.1:29080"), "breaking", DP_B)
    assert (result.kind, result.deployment_id, result.schema) == ("unchanged", DP_A, schema)


def test_same_address_ignores_headers_by_default() -> None:
    schema = _registered()
    assert find_existing(schema, _req(headers={"x-other": "1"}).uri) is schema.deployments[DP_A]
    assert find_existing(schema, _req("http://127.0.0.1:29080/other/").uri) is None


def test_force_rediscovers_keeps_the_id_and_bumps_revisions() -> None:
    schema = _registered()
    result = _add(schema, _req(force=True), "transcript", DP_B, now=T0 + 5)
    assert (result.kind, result.deployment_id) == ("overwritten", DP_A)
    assert result.schema.version == schema.version + 1
    assert {s.revision for s in result.schema.services.values()} == {2}
    assert result.schema.deployments[DP_A].created_at_ms == T0 + 5
    assert result.schema.superseded == []


def test_force_resets_service_options() -> None:
    schema = _registered()
    patched = msgspec.structs.replace(schema.services["Greeter"], idempotency_retention_ms=7_200_000, public=False)
    schema = msgspec.structs.replace(schema, services={**schema.services, "Greeter": patched})
    result = _add(schema, _req(force=True), "transcript", DP_B)
    greeter = result.schema.services["Greeter"]
    assert (greeter.idempotency_retention_ms, greeter.public) == (None, True)


def test_breaking_change_without_breaking_is_409_meta0006() -> None:
    schema = _registered()
    with pytest.raises(AdminError) as info:
        _add(schema, _req(URI_B), "breaking", DP_C)
    err = info.value
    assert (err.status, err.code) == (409, "META0006")
    assert err.message == (
        "[META0006] detected a new service revision for 'Counter' changing the service type from previous "
        "revision. Service type cannot be changed across revisions."
    )


def test_breaking_change_with_breaking_creates_a_new_revision() -> None:
    schema = _registered()
    result = _add(schema, _req(URI_B, breaking=True), "breaking", DP_C)
    assert (result.kind, result.deployment_id) == ("created", DP_C)
    counter = result.schema.services["Counter"]
    assert (counter.ty, counter.revision, counter.deployment_id) == ("Service", 2, DP_C)
    assert [(s.name, s.revision, s.deployment_id) for s in result.schema.superseded] == [("Counter", 1, DP_A)]
    assert [s.revision for s in deployment_services(result.schema, DP_A) if s.name == "Counter"] == [1]


def test_deleting_the_newest_deployment_reinstates_the_older_revision() -> None:
    schema = _add(_registered(), _req(URI_B, breaking=True), "breaking", DP_C).schema
    after = delete_deployment(schema, DP_C)
    assert after.version == schema.version + 1
    assert DP_C not in after.deployments
    assert (after.services["Counter"].deployment_id, after.services["Counter"].revision) == (DP_A, 1)
    assert after.superseded == []


def test_deleting_the_only_deployment_removes_its_services() -> None:
    after = delete_deployment(_registered(), DP_A)
    assert (after.deployments, after.services, after.version) == ({}, {}, 2)


def test_deleting_an_unknown_deployment_is_404() -> None:
    with pytest.raises(AdminError) as info:
        delete_deployment(_registered(), DP_B)
    assert (info.value.status, info.value.message) == (
        404,
        f"not found in the schema registry: deployment with id '{DP_B}'",
    )


@pytest.mark.parametrize("name", ["restateThing", "RestateX", "openapi", "OpenAPI"])
def test_reserved_service_names(name: str) -> None:
    found = discovered("extra")
    renamed = msgspec.structs.replace(found.services[0], name=name)
    found = dataclasses.replace(found, services=[renamed])
    with pytest.raises(AdminError) as info:
        add_deployment(Schema(), _req(), found, overwrite=False, allow_breaking=False, now_ms=T0, new_id=DP_A)
    err = info.value
    assert (err.status, err.code) == (400, "META0005")
    assert err.message == f"[META0005] cannot insert/modify service '{name}' as it contains a reserved name"


def test_two_deployments_serving_different_services() -> None:
    schema = _registered()
    result = _add(schema, _req("http://127.0.0.1:29081/"), "extra", DP_B)
    assert set(result.schema.services) == {"Greeter", "Counter", "Signup", "Extra"}
    assert list(result.schema.deployments) == [DP_A, DP_B]
