"""The public context API handlers program against: Context, ObjectContext, WorkflowContext and friends (ABCs)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from random import Random
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from restate.sdk.futures import (
    AttemptFinishedEvent,
    DurablePromise,
    Request,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunOptions,
    SendHandle,
)
from restate.sdk.serde import DefaultSerde, Serde

__all__ = [
    "AttemptFinishedEvent",
    "Context",
    "DurablePromise",
    "HandlerType",
    "KeyValueStore",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunAction",
    "RunOptions",
    "ScopedContext",
    "SendHandle",
    "WorkflowContext",
    "WorkflowSharedContext",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the official SDK's name
O = TypeVar("O")  # noqa: E741
P = ParamSpec("P")

HandlerType = Callable[..., Awaitable[O]]
RunAction = Callable[..., Coroutine[Any, Any, T]] | Callable[..., T]


class KeyValueStore(abc.ABC):
    """The state of a virtual object or workflow key."""

    @abc.abstractmethod
    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> Awaitable[T | None]:
        """The value of state `name` (None if unset), deserialized with `serde` / `type_hint`."""

    @abc.abstractmethod
    def state_keys(self, entry_name: str | None = None) -> Awaitable[list[str]]:
        """All state keys."""

    @abc.abstractmethod
    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde(), entry_name: str | None = None) -> None:
        """Set state `name` to `value`."""

    @abc.abstractmethod
    def clear(self, name: str, entry_name: str | None = None) -> None:
        """Delete state `name`."""

    @abc.abstractmethod
    def clear_all(self, entry_name: str | None = None) -> None:
        """Delete all state."""


class ScopedContext(abc.ABC):
    """Calls and sends within a scope (preview: needs protocol V7 and vqueues in the server); see Context.scope."""

    @abc.abstractmethod
    def service_call(self, tpe: HandlerType[O], arg: Any, limit_key: str | None = None,
                     idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> RestateDurableCallFuture[O]:  # fmt: skip
        """Call a service handler within the scope."""

    @abc.abstractmethod
    def service_send(self, tpe: HandlerType[O], arg: Any, send_delay: timedelta | None = None,
                     limit_key: str | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> SendHandle:  # fmt: skip
        """Send to a service handler within the scope."""

    @abc.abstractmethod
    def object_call(self, tpe: HandlerType[O], key: str, arg: Any, limit_key: str | None = None,
                    idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> RestateDurableCallFuture[O]:  # fmt: skip
        """Call a virtual object handler within the scope."""

    @abc.abstractmethod
    def object_send(self, tpe: HandlerType[O], key: str, arg: Any, send_delay: timedelta | None = None,
                    limit_key: str | None = None, idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> SendHandle:  # fmt: skip
        """Send to a virtual object handler within the scope."""

    @abc.abstractmethod
    def workflow_call(self, tpe: HandlerType[O], key: str, arg: Any, limit_key: str | None = None,
                      idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None) -> RestateDurableCallFuture[O]:  # fmt: skip
        """Call a workflow handler within the scope."""

    @abc.abstractmethod
    def workflow_send(self, tpe: HandlerType[O], key: str, arg: Any, send_delay: timedelta | None = None,
                      limit_key: str | None = None, idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None) -> SendHandle:  # fmt: skip
        """Send to a workflow handler within the scope."""


class Context(abc.ABC):
    """The context of an invocation: durable steps, timers, calls, awakeables and deterministic helpers."""

    @abc.abstractmethod
    def request(self) -> Request:
        """The invocation id, headers and raw body of this request."""

    @abc.abstractmethod
    def scope(self, scope: str) -> ScopedContext:
        """Route the calls made through the returned context within `scope` (preview, protocol V7 only)."""

    @abc.abstractmethod
    def random(self) -> Random:
        """A Random seeded deterministically by Restate (stable across retries and replays)."""

    @abc.abstractmethod
    def uuid(self) -> UUID:
        """A deterministic random UUID (v4)."""

    @abc.abstractmethod
    def time(self) -> RestateDurableFuture[float]:
        """`time.time()`, journaled (stable across retries and replays)."""

    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DefaultSerde(),
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        """Run `action` once and journal its result (deprecated: use run_typed)."""

    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]] | Callable[P, T],
        options: RunOptions[T] = RunOptions(),
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]:
        """Run `action(*args, **kwargs)` once, retrying it per `options`, and journal its result."""

    @abc.abstractmethod
    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        """A durable timer."""

    @abc.abstractmethod
    def service_call(
        self,
        tpe: HandlerType[O],
        arg: Any,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a service handler."""

    @abc.abstractmethod
    def service_send(
        self,
        tpe: HandlerType[O],
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a service handler, optionally delayed."""

    @abc.abstractmethod
    def object_call(
        self,
        tpe: HandlerType[O],
        key: str,
        arg: Any,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a virtual object handler for `key`."""

    @abc.abstractmethod
    def object_send(
        self,
        tpe: HandlerType[O],
        key: str,
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a virtual object handler for `key`."""

    @abc.abstractmethod
    def workflow_call(
        self,
        tpe: HandlerType[O],
        key: str,
        arg: Any,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a workflow handler for `key`."""

    @abc.abstractmethod
    def workflow_send(
        self,
        tpe: HandlerType[O],
        key: str,
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a workflow handler for `key`."""

    @abc.abstractmethod
    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        """Call any handler by name with raw bytes."""

    @abc.abstractmethod
    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> SendHandle:
        """Send a one-way message to any handler by name with raw bytes."""

    @abc.abstractmethod
    def awakeable(
        self, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None
    ) -> tuple[str, RestateDurableFuture[T]]:
        """A new awakeable: its id (give it to the outside world) and the future of its value."""

    @abc.abstractmethod
    def resolve_awakeable(self, name: str, value: Any, serde: Serde[Any] = DefaultSerde()) -> None:
        """Complete awakeable `name` with `value`."""

    @abc.abstractmethod
    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        """Fail awakeable `name` with a terminal error."""

    @abc.abstractmethod
    def signal(self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None) -> Any:
        """Await the named signal `name` on this invocation."""

    @abc.abstractmethod
    def resolve_signal(self, invocation_id: str, name: str, value: Any, serde: Serde[Any] = DefaultSerde()) -> None:
        """Resolve the named signal `name` of invocation `invocation_id`."""

    @abc.abstractmethod
    def reject_signal(self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500) -> None:
        """Reject the named signal `name` of invocation `invocation_id`."""

    @abc.abstractmethod
    def cancel_invocation(self, invocation_id: str) -> None:
        """Cancel invocation `invocation_id`."""

    @abc.abstractmethod
    def attach_invocation(
        self, invocation_id: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T]:
        """Await the result of invocation `invocation_id`."""


class ObjectContext(Context, KeyValueStore):
    """The context of an exclusive virtual object handler: read and write state."""

    @abc.abstractmethod
    def key(self) -> str:
        """The object key."""


class ObjectSharedContext(Context):
    """The context of a shared virtual object handler: read-only state."""

    @abc.abstractmethod
    def key(self) -> str:
        """The object key."""

    @abc.abstractmethod
    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> RestateDurableFuture[T | None]:
        """The value of state `name` (None if unset)."""

    @abc.abstractmethod
    def state_keys(self, entry_name: str | None = None) -> Awaitable[list[str]]:
        """All state keys."""


class WorkflowContext(ObjectContext):
    """The context of a workflow's main handler: state plus durable promises."""

    @abc.abstractmethod
    def promise(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None
    ) -> DurablePromise[T]:
        """The durable promise `name` of this workflow."""


class WorkflowSharedContext(ObjectSharedContext):
    """The context of a workflow's shared handlers: read-only state plus durable promises."""

    @abc.abstractmethod
    def promise(
        self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None
    ) -> DurablePromise[T]:
        """The durable promise `name` of this workflow."""

