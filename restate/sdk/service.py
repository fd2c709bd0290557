"""`Service`: a stateless Restate service and its `handler` decorator (plus the base shared with objects/workflows)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar

from restate.sdk.handler import ContextManagerFactory, Handler, HandlerIO, ServiceTag, make_handler, register
from restate.sdk.retry_policy import InvocationRetryPolicy
from restate.sdk.serde import DefaultSerde, Serde

__all__ = ["Service", "ServiceBase"]

T = TypeVar("T")


class ServiceBase:
    """What Service, VirtualObject and Workflow share: name, tag, handlers and service-level options."""

    kind: Literal["service", "object", "workflow"] = "service"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: list[ContextManagerFactory] | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
    ) -> None:
        if state_preload is not None and enable_lazy_state is not None:
            raise ValueError("Cannot set both 'state_preload' and the deprecated 'enable_lazy_state'.")
        self.service_tag = ServiceTag(self.kind, name, description, metadata)
        self.handlers: dict[str, Handler[Any, Any]] = {}
        self.inactivity_timeout = inactivity_timeout
        self.abort_timeout = abort_timeout
        self.journal_retention = journal_retention
        self.idempotency_retention = idempotency_retention
        self.ingress_private = ingress_private
        self.invocation_retry_policy = invocation_retry_policy
        self.context_managers = invocation_context_managers
        self.enable_lazy_state = enable_lazy_state
        self.state_preload = state_preload
        self.explicit_recovery = False

    @property
    def name(self) -> str:
        """The service name."""
        return self.service_tag.name

    def _decorator(
        self,
        name: str | None,
        kind: Literal["exclusive", "shared", "workflow"] | None,
        io: HandlerIO[Any, Any],
        context_managers: list[ContextManagerFactory] | None,
        **options: Any,
    ) -> Callable[[T], T]:
        """Register the decorated function as handler `name` (see make_handler for `options`)."""
        combined = (self.context_managers or []) + (context_managers or []) or None

        def make(wrapped: Any, signature: inspect.Signature) -> Handler[Any, Any]:
            return make_handler(
                self.service_tag,
                io,
                name,
                kind,
                wrapped,
                signature,
                description=inspect.getdoc(wrapped),
                context_managers=combined,
                **options,
            )

        return register(self.handlers, self.name, make)


class Service(ServiceBase):
    """A stateless Restate service.

    Args:
        name: the service name.
        description: documentation shown in the UI and admin API.
        metadata: service metadata (admin API).
        inactivity_timeout: suspend an invocation idle for this long (restate-server >= 1.4).
        abort_timeout: abort an invocation that does not suspend within this time (>= 1.4).
        journal_retention: keep the journal of finished invocations this long (>= 1.4).
        idempotency_retention: keep results of idempotent requests this long (>= 1.4).
        ingress_private: reachable only from other services, not from the ingress (>= 1.4).
        invocation_retry_policy: retry policy of all handlers (>= 1.5).
        invocation_context_managers: async context manager factories wrapped around every invocation.
    """

    kind = "service"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: list[ContextManagerFactory] | None = None,
    ) -> None:
        super().__init__(
            name,
            description,
            metadata,
            inactivity_timeout,
            abort_timeout,
            journal_retention,
            idempotency_retention,
            ingress_private,
            invocation_retry_policy,
            invocation_context_managers,
        )

    def handler(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] = DefaultSerde(),
        output_serde: Serde[Any] = DefaultSerde(),
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: list[ContextManagerFactory] | None = None,
    ) -> Callable[[T], T]:
        """Decorator registering an `async def fn(ctx[, input])` as a handler (options as in Service)."""
        return self._decorator(
            name,
            None,
            HandlerIO(accept, content_type, input_serde, output_serde),
            invocation_context_managers,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
        )
