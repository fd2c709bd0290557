"""The registry model: deployments, services and handlers, as admin stores and pushes them."""

from __future__ import annotations

from typing import Literal

import msgspec

ServiceType = Literal["Service", "VirtualObject", "Workflow"]
HandlerType = Literal["Exclusive", "Shared", "Workflow"]
ProtocolType = Literal["BidiStream", "RequestResponse"]

DEFAULT_INACTIVITY_TIMEOUT_MS = 60_000
DEFAULT_ABORT_TIMEOUT_MS = 600_000
DEFAULT_RETENTION_MS = 86_400_000


class RetryPolicy(msgspec.Struct, frozen=True, omit_defaults=True):
    """The invoker's retry policy; None fields fall back to the server defaults."""

    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: Literal["Pause", "Kill"] | None = None


class InputRules(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the ingress accepts as a handler's input. `accepts_none` is True for `input: {}` handlers."""

    required: bool = False
    content_type: str | None = "*/*"
    json_schema: object | None = None
    accepts_none: bool = False


class OutputRules(msgspec.Struct, frozen=True, omit_defaults=True):
    content_type: str | None = None
    set_content_type_if_empty: bool = False
    json_schema: object | None = None


class HandlerSchema(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    ty: HandlerType | None = None
    input: InputRules = InputRules()
    output: OutputRules = OutputRules()
    public: bool = True
    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    # The handler's own visibility from the manifest (`ingressPrivate`); None: `public` follows the
    # service's, also when `PATCH /services/{name}` changes it.
    ingress_private: bool | None = None


class ServiceSchema(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    ty: ServiceType
    handlers: dict[str, HandlerSchema]
    deployment_id: str
    revision: int = 1
    public: bool = True
    documentation: str | None = None
    metadata: dict[str, str] = {}
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool = False
    retry_policy: RetryPolicy = RetryPolicy()

    @property
    def keyed(self) -> bool:
        return self.ty != "Service"


class Deployment(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    uri: str
    protocol_type: ProtocolType
    http_version: Literal["HTTP/2.0", "HTTP/1.1"]
    created_at_ms: int
    min_protocol_version: int
    max_protocol_version: int
    sdk_version: str | None = None
    additional_headers: dict[str, str] = {}
    metadata: dict[str, str] = {}
    services: dict[str, int] = {}  # service name -> revision served by this deployment


class Schema(msgspec.Struct, frozen=True, omit_defaults=True):
    """A versioned snapshot of the whole registry; every change bumps `version`."""

    version: int = 0
    deployments: dict[str, Deployment] = {}
    services: dict[str, ServiceSchema] = {}
    # Older revisions still served by a live deployment (not the active one for their name): shown by
    # `GET /deployments/{id}` and reinstated when the deployment holding the active revision is deleted.
    superseded: list[ServiceSchema] = []

    def handler(self, service: str, handler: str) -> tuple[ServiceSchema, HandlerSchema] | None:
        svc = self.services.get(service)
        if svc is None:
            return None
        h = svc.handlers.get(handler)
        return None if h is None else (svc, h)


def is_exclusive(service: ServiceSchema, handler: HandlerSchema) -> bool:
    """Whether the handler takes the key's lock (exclusive object handlers and workflow `run`)."""
    if service.ty == "VirtualObject":
        return handler.ty != "Shared"
    if service.ty == "Workflow":
        return handler.ty == "Workflow"
    return False
