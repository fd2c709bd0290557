"""Applies deployment registrations and deletions to a Schema, with Restate's semantics (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from restate.admin.errors import AdminError, PlainError, coded, invalid_field
from restate.admin.jsonbody import PARSE
from restate.admin.manifest import Discovered
from restate.schema import Deployment, Schema, ServiceSchema
from restate.serde_json_errors import scan

RegistrationKind = Literal["created", "unchanged", "overwritten"]
UNTAGGED = (
    "Failed to deserialize the JSON body into the target type: "
    "data did not match any variant of untagged enum RegisterDeploymentRequest"
)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_URI_FORBIDDEN = frozenset('"<>\\^`{|} ')
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
_RESERVED_PREFIX = "restate"


class _HttpBody(msgspec.Struct, frozen=True):
    uri: str
    additional_headers: dict[str, str] | None = None
    metadata: dict[str, str] = {}
    use_http_11: bool = False
    breaking: bool = False
    force: bool | None = None
    dry_run: bool = False
    auth: msgspec.Raw | None = None


class _LambdaBody(msgspec.Struct, frozen=True):
    arn: str
    assume_role_arn: str | None = None
    additional_headers: dict[str, str] | None = None
    metadata: dict[str, str] = {}
    breaking: bool = False
    force: bool | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Uri:
    """An http::Uri-like split of a deployment address; `str()` is the normalised form."""

    scheme: str | None
    authority: str | None
    path: str
    query: str | None = None

    def __str__(self) -> str:
        head = f"{self.scheme}://{self.authority}" if self.scheme else (self.authority or "")
        path = self.path or ("/" if self.scheme else "")
        return head + path + (f"?{self.query}" if self.query is not None else "")


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    """A validated `POST /deployments` body for an HTTP deployment."""

    uri: Uri
    additional_headers: dict[str, str]
    metadata: dict[str, str]
    use_http_11: bool = False
    breaking: bool = False
    force: bool | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class LambdaRequest:
    """A Lambda registration: accepted by the parser, refused at discovery (Lambda is not supported)."""

    arn: str
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Registration:
    """The result of a registration: `schema` is the schema after it (unchanged: the current one)."""

    kind: RegistrationKind
    deployment_id: str
    schema: Schema

    @property
    def changed(self) -> bool:
        return self.kind != "unchanged"


# --- request parsing -------------------------------------------------------------------------------


def parse_uri(text: str) -> Uri | None:
    """Parses a URI the way the http crate accepts it; None when it is not a URI at all."""
    if not text or any(ch in _URI_FORBIDDEN or ord(ch) < 0x20 or ord(ch) >= 0x7F for ch in text):
        return None
    rest, qmark, query = text.partition("#")[0].partition("?")
    q = query if qmark else None
    if rest.startswith("/"):
        return Uri(None, None, rest, q)
    scheme, sep, after = rest.partition("://")
    if not sep:
        # authority-form ("host:port") is a valid URI, though not an absolute one
        return Uri(None, rest, "", None) if rest and "/" not in rest and not qmark and _port_ok(rest) else None
    if not scheme[:1].isalpha() or any(c not in _SCHEME_CHARS for c in scheme):
        return None
    authority, slash, path = after.partition("/")
    if not authority or not _port_ok(authority):
        return None
    return Uri(scheme.lower(), authority, slash + path, q)


def _port_ok(authority: str) -> bool:
    host_port = authority.rpartition("@")[2]
    _, colon, port = host_port.rpartition("]")[2].rpartition(":")
    return not colon or port.isdigit() and int(port) < 65536


def valid_headers(raw: dict[str, str] | None) -> dict[str, str] | None:
    """Lower-cases header names; None when a name or value is not a valid HTTP header."""
    out: dict[str, str] = {}
    for name, value in (raw or {}).items():
        if not name or any(ch not in _TOKEN for ch in name):
            return None
        if any(not (ch == "\t" or " " <= ch <= "~") for ch in value):
            return None
        out[name.lower()] = value
    return out


def parse_register_body(body: bytes) -> RegisterRequest | LambdaRequest:
    """Decodes the untagged RegisterDeploymentRequest union; raises PlainError/AdminError as Restate does."""
    # An untagged enum: serde reads the whole value first, tries each variant, and only then looks
    # for trailing characters.
    found = scan(body)
    if found.error is not None and not found.trailing:
        raise PlainError(400, f"{PARSE}{found.error.with_path()}")
    request = _variant(found.value)
    if found.error is not None:
        raise PlainError(400, f"{PARSE}{found.error}")
    return request


def _variant(raw: object) -> RegisterRequest | LambdaRequest:
    parsed = _as_http(raw)
    if parsed is not None:
        return _check_http(*parsed)
    try:
        lam = msgspec.convert(raw, _LambdaBody)
    except msgspec.ValidationError:
        raise PlainError(422, UNTAGGED) from None
    if valid_headers(lam.additional_headers) is None:
        raise PlainError(422, UNTAGGED)
    return LambdaRequest(lam.arn, lam.dry_run)


def _as_http(raw: object) -> tuple[_HttpBody, Uri, dict[str, str]] | None:
    try:
        req = msgspec.convert(raw, _HttpBody)
    except msgspec.ValidationError:
        return None
    uri = parse_uri(req.uri)
    headers = valid_headers(req.additional_headers)
    return None if uri is None or headers is None else (req, uri, headers)


def _check_http(req: _HttpBody, uri: Uri, headers: dict[str, str]) -> RegisterRequest:
    if uri.scheme is None or uri.authority is None:
        raise invalid_field("uri", f"The provided uri {uri} is not absolute, only absolute URIs can be used.")
    if req.auth is not None:
        raise invalid_field("auth", "deployment authentication is not supported by this server")
    return RegisterRequest(uri, headers, dict(req.metadata), req.use_http_11, req.breaking, req.force, req.dry_run)


# --- registration ------------------------------------------------------------------------------------


def resolve_flags(req: RegisterRequest, api_version: int | None) -> tuple[bool, bool]:
    """(overwrite, allow_breaking): `force` defaults to true on admin API v1/v2 and implies breaking."""
    force = req.force if req.force is not None else api_version in (1, 2)
    return (True, True) if force else (False, req.breaking)


def _same_address(deployment: Deployment, uri: Uri) -> bool:
    # Restate compares authority and path only; additional headers count only when configured as
    # routing headers (admin.deployment-routing-headers, empty by default).
    existing = parse_uri(deployment.uri)
    return existing is not None and (existing.authority, existing.path or "/") == (uri.authority, uri.path or "/")


def find_existing(schema: Schema, uri: Uri) -> Deployment | None:
    """The newest deployment registered at the same address, if any."""
    matches = [d for d in schema.deployments.values() if _same_address(d, uri)]
    return max(matches, key=lambda d: d.created_at_ms) if matches else None


def status_for(kind: RegistrationKind, deployment_id: str, api_version: int | None) -> int:
    """HTTP status of a registration; "unchanged" is a 409 conflict on v1/v2."""
    modern = api_version is None or api_version >= 3
    if kind == "created":
        return 201
    if kind == "overwritten":
        return 200 if modern else 201
    if not modern:
        raise AdminError(409, f"Conflict: deployment {deployment_id} already exists")
    return 200


def add_deployment(
    schema: Schema,
    req: RegisterRequest,
    discovered: Discovered,
    *,
    overwrite: bool,
    allow_breaking: bool,
    now_ms: int,
    new_id: str,
) -> Registration:
    """Adds (or with `overwrite` replaces) the deployment at req.uri; new revisions for its services."""
    check_service_names(discovered)
    existing = find_existing(schema, req.uri)
    if existing is not None and not overwrite:
        return Registration("unchanged", existing.id, schema)
    dep_id = existing.id if existing is not None else new_id
    services = [_new_revision(schema, svc, dep_id, allow_breaking) for svc in discovered.services]
    deployment = Deployment(
        id=dep_id,
        uri=str(req.uri),
        protocol_type=discovered.protocol_type,
        http_version=discovered.http_version,
        created_at_ms=now_ms,
        min_protocol_version=discovered.min_protocol_version,
        max_protocol_version=discovered.max_protocol_version,
        sdk_version=discovered.sdk_version,
        additional_headers=dict(req.additional_headers),
        metadata=dict(req.metadata),
        services={svc.name: svc.revision for svc in services},
    )
    deployments = {**schema.deployments, dep_id: deployment}
    kept = [s for s in all_revisions(schema) if s.deployment_id != dep_id]
    new_schema = reindex(schema, deployments, kept + services)
    return Registration("overwritten" if existing is not None else "created", dep_id, new_schema)


def check_service_names(discovered: Discovered) -> None:
    """Refuses services named like Restate's own (META0005)."""
    for svc in discovered.services:
        if svc.name.lower().startswith(_RESERVED_PREFIX) or svc.name.lower() == "openapi":
            raise coded(400, "META0005", f"cannot insert/modify service '{svc.name}' as it contains a reserved name")


def _new_revision(schema: Schema, svc: ServiceSchema, dep_id: str, allow_breaking: bool) -> ServiceSchema:
    previous = schema.services.get(svc.name)
    if previous is not None and previous.ty != svc.ty and not allow_breaking:
        raise coded(
            409,
            "META0006",
            f"detected a new service revision for '{svc.name}' changing the service type from previous "
            "revision. Service type cannot be changed across revisions.",
        )
    revision = previous.revision + 1 if previous is not None else 1
    return msgspec.structs.replace(svc, deployment_id=dep_id, revision=revision)


def delete_deployment(schema: Schema, deployment_id: str) -> Schema:
    """Removes a deployment; services it served fall back to the newest remaining revision."""
    if deployment_id not in schema.deployments:
        raise AdminError(404, f"not found in the schema registry: deployment with id '{deployment_id}'")
    deployments = {k: v for k, v in schema.deployments.items() if k != deployment_id}
    kept = [s for s in all_revisions(schema) if s.deployment_id != deployment_id]
    return reindex(schema, deployments, kept)


def all_revisions(schema: Schema) -> list[ServiceSchema]:
    return list(schema.services.values()) + list(schema.superseded)


def reindex(schema: Schema, deployments: dict[str, Deployment], revisions: list[ServiceSchema]) -> Schema:
    """The active revision of each service is the highest one; the others are kept as superseded."""
    active: dict[str, ServiceSchema] = {}
    for svc in revisions:
        if svc.deployment_id not in deployments:
            continue
        current = active.get(svc.name)
        if current is None or current.revision < svc.revision:
            active[svc.name] = svc
    superseded = [s for s in revisions if s.deployment_id in deployments and active[s.name] is not s]
    return Schema(version=schema.version + 1, deployments=deployments, services=active, superseded=superseded)


def deployment_services(schema: Schema, deployment_id: str) -> list[ServiceSchema]:
    """The service revisions a deployment serves, in registration order (active or superseded)."""
    deployment = schema.deployments.get(deployment_id)
    if deployment is None:
        return []
    found = {s.name: s for s in all_revisions(schema) if s.deployment_id == deployment_id}
    return [found[name] for name in deployment.services if name in found]
