"""`PATCH /deployments/{id}`: a deployment's address, headers or HTTP version changed, after a new discovery.

Without `overwrite` only the address, the headers, the transport (protocol type, HTTP version) and the SDK
version change; the services stay as registered, and the endpoint must offer the same protocol versions.
With `overwrite` the discovered services replace the deployment's, at the same revisions, with their
settings back to the discovered ones. Parsing and applying are pure; the route lives in restate.admin.app.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from restate.admin import registry
from restate.admin.errors import AdminError, PlainError, coded, discovery_failed, invalid_field
from restate.admin.jsonbody import PARSE
from restate.admin.manifest import Discovered
from restate.schema import Deployment, Schema, ServiceSchema
from restate.serde_json_errors import scan

UNTAGGED = (
    "Failed to deserialize the JSON body into the target type: "
    "data did not match any variant of untagged enum UpdateDeploymentRequest"
)


class _HttpBody(msgspec.Struct, frozen=True):
    uri: str | None  # serde needs the member (null is fine): without it, the body is the Lambda variant
    additional_headers: dict[str, str] | None = None
    use_http_11: bool | None = None
    overwrite: bool = False
    dry_run: bool = False


class _LambdaBody(msgspec.Struct, frozen=True):
    arn: str | None = None
    assume_role_arn: str | None = None
    additional_headers: dict[str, str] | None = None
    overwrite: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """A validated UpdateDeploymentRequest; None: keep the deployment's. `arn`/`assume_role_arn` are a Lambda
    deployment's address. A body without a `uri` member is the Lambda variant, so it never sets `use_http_11`."""

    uri: registry.Uri | None = None
    additional_headers: dict[str, str] | None = None
    use_http_11: bool | None = None
    overwrite: bool = False
    dry_run: bool = False
    arn: str | None = None
    assume_role_arn: str | None = None

    @property
    def changes_nothing(self) -> bool:
        """Restate answers such a request like a GET, without discovery (even with `overwrite`)."""
        unset = (self.uri, self.additional_headers, self.use_http_11, self.arn, self.assume_role_arn)
        return all(value is None for value in unset)


def parse_update_body(body: bytes) -> UpdateRequest:
    """Decodes the untagged UpdateDeploymentRequest union (HTTP first, then Lambda) as serde does."""
    found = scan(body)
    if found.error is not None and not found.trailing:
        raise PlainError(400, f"{PARSE}{found.error.with_path()}")
    request = _variant(found.value)
    if found.error is not None:
        raise PlainError(400, f"{PARSE}{found.error}")
    return request


def _variant(raw: object) -> UpdateRequest:
    http = _as_http(raw)
    if http is not None:
        return http
    try:
        lam = msgspec.convert(raw, _LambdaBody)
    except msgspec.ValidationError:
        raise PlainError(422, UNTAGGED) from None
    headers = registry.valid_headers(lam.additional_headers)
    if headers is None:
        raise PlainError(422, UNTAGGED)
    return UpdateRequest(
        additional_headers=None if lam.additional_headers is None else headers,
        overwrite=lam.overwrite,
        dry_run=lam.dry_run,
        arn=lam.arn,
        assume_role_arn=lam.assume_role_arn,
    )


def _as_http(raw: object) -> UpdateRequest | None:
    try:
        req = msgspec.convert(raw, _HttpBody)
    except msgspec.ValidationError:
        return None
    uri = None if req.uri is None else registry.parse_uri(req.uri)
    headers = registry.valid_headers(req.additional_headers)
    if (req.uri is not None and uri is None) or headers is None:
        return None
    if uri is not None and (uri.scheme is None or uri.authority is None):
        raise invalid_field("uri", f"The provided uri {uri} is not absolute, only absolute URIs can be used.")
    return UpdateRequest(
        uri=uri,
        additional_headers=None if req.additional_headers is None else headers,
        use_http_11=req.use_http_11,
        overwrite=req.overwrite,
        dry_run=req.dry_run,
    )


@dataclass(frozen=True, slots=True)
class Discovery:
    """Where and how to discover the updated deployment."""

    uri: str
    additional_headers: dict[str, str]
    use_http_11: bool


def discovery_for(existing: Deployment, req: UpdateRequest) -> Discovery:
    """The address, headers and client of the new discovery. A new URI is discovered over h2c unless
    `use_http_11` says otherwise, as Restate does; the deployment's own URI with its HTTP version unless
    `use_http_11` is given."""
    if req.arn is not None:  # Restate discovers the Lambda (whatever the deployment's type)
        raise discovery_failed(
            "META0003", f"error when calling '{req.arn}': Lambda deployments are not supported by this server"
        )
    if req.assume_role_arn is not None:
        actual, expected = "http", "lambda"
        reason = f"the deployment type is {actual} while the update options are for type {expected}"
        raise AdminError(400, f"cannot update the deployment, as {reason}")
    if req.uri is not None:
        uri, use_http_11 = str(req.uri), bool(req.use_http_11)
    else:
        kept = existing.http_version == "HTTP/1.1"
        uri, use_http_11 = existing.uri, kept if req.use_http_11 is None else req.use_http_11
    headers = existing.additional_headers if req.additional_headers is None else req.additional_headers
    return Discovery(uri, dict(headers), use_http_11)


def update_deployment(
    schema: Schema, deployment_id: str, where: Discovery, discovered: Discovered, overwrite: bool
) -> Schema:
    """The next schema with the deployment updated from its new discovery; raises AdminError as Restate does."""
    existing = schema.deployments.get(deployment_id)
    if existing is None:
        raise AdminError(404, f"not found in the schema registry: deployment with id '{deployment_id}'")
    before = (existing.min_protocol_version, existing.max_protocol_version)
    after = (discovered.min_protocol_version, discovered.max_protocol_version)
    if before != after:
        raise coded(
            400,
            "META0016",
            "an update deployment operation must provide an endpoint with the same services and handlers. The "
            f"update tried to change the supported protocol versions from {_range(before)} to {_range(after)}",
        )
    deployment = msgspec.structs.replace(
        existing,
        uri=where.uri,
        protocol_type=discovered.protocol_type,
        http_version=discovered.http_version,
        sdk_version=discovered.sdk_version,
        additional_headers=where.additional_headers,
    )
    if not overwrite:
        deployments = {**schema.deployments, deployment_id: deployment}
        return msgspec.structs.replace(schema, version=schema.version + 1, deployments=deployments)
    registry.check_service_names(discovered)
    services = [_same_revision(schema, svc, deployment_id) for svc in discovered.services]
    deployment = msgspec.structs.replace(deployment, services={svc.name: svc.revision for svc in services})
    deployments = {**schema.deployments, deployment_id: deployment}
    kept = [s for s in registry.all_revisions(schema) if s.deployment_id != deployment_id]
    return registry.reindex(schema, deployments, kept + services)


def _same_revision(schema: Schema, svc: ServiceSchema, deployment_id: str) -> ServiceSchema:
    """A discovered service at the revision the deployment served it with (1 for a service new to it)."""
    previous = schema.deployments[deployment_id].services.get(svc.name, 1)
    return msgspec.structs.replace(svc, deployment_id=deployment_id, revision=previous)


def _range(versions: tuple[int, int]) -> str:
    return f"{versions[0]}..={versions[1]}"  # Rust's RangeInclusive
