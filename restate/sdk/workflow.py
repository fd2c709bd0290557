"""`Workflow`: a keyed service whose `main` handler runs once per key, with shared handlers alongside."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from restate.sdk.handler import ContextManagerFactory, HandlerIO
from restate.sdk.retry_policy import InvocationRetryPolicy
from restate.sdk.serde import DefaultSerde, Serde
from restate.sdk.service import ServiceBase

__all__ = ["Workflow"]

T = TypeVar("T")


class Workflow(ServiceBase):
    """A workflow: `@wf.main()` runs once per workflow key; `@wf.handler()` handlers are shared.

    Takes the options of VirtualObject.
    """

    kind = "workflow"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
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
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
            invocation_context_managers=invocation_context_managers,
            enable_lazy_state=enable_lazy_state,
            state_preload=state_preload,
        )

    def main(
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
        workflow_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: list[ContextManagerFactory] | None = None,
    ) -> Callable[[T], T]:
        """Decorator for the workflow entry point (`workflow_retention`: keep its result this long)."""
        return self._decorator(
            name,
            "workflow",
            HandlerIO(accept, content_type, input_serde, output_serde),
            invocation_context_managers,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            workflow_retention=workflow_retention,
            enable_lazy_state=enable_lazy_state,
            state_preload=state_preload,
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
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
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: list[ContextManagerFactory] | None = None,
    ) -> Callable[[T], T]:
        """Decorator for a shared handler of the workflow (signals, queries)."""
        return self._decorator(
            name,
            "shared",
            HandlerIO(accept, content_type, input_serde, output_serde),
            invocation_context_managers,
            metadata=metadata,
            inactivity_timeout=inactivity_timeout,
            abort_timeout=abort_timeout,
            journal_retention=journal_retention,
            idempotency_retention=idempotency_retention,
            enable_lazy_state=enable_lazy_state,
            state_preload=state_preload,
            ingress_private=ingress_private,
            invocation_retry_policy=invocation_retry_policy,
        )
