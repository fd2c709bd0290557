"""Durable futures and the small value types of the context API (RunOptions, Request, SendHandle, DurablePromise)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from restate.sdk.serde import DefaultSerde, Serde

__all__ = [
    "AttemptFinishedEvent",
    "DurablePromise",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunOptions",
    "SendHandle",
]

T = TypeVar("T")


@dataclass
class RunOptions(Generic[T]):
    """Options of ctx.run_typed.

    Attributes:
        serde: how the result is journaled (default: JSON, refined by `type_hint` or the action's return type).
        type_hint: the result type.
        max_attempts: attempts (the first included) before giving up with a TerminalError.
        max_duration: total retry time before giving up with a TerminalError.
        initial_retry_interval: first retry delay (default 100 ms when any retry option is set).
        max_retry_interval: cap of the retry delay (default 10 s).
        retry_interval_factor: growth of the delay (default 2).
        max_retry_duration: deprecated alias of max_duration.
    """

    serde: Serde[T] = field(default_factory=DefaultSerde)
    type_hint: type[T] | None = None
    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_retry_interval: timedelta | None = None
    max_retry_interval: timedelta | None = None
    retry_interval_factor: float | None = None
    max_retry_duration: timedelta | None = None


class RestateDurableFuture(Generic[T], Awaitable[T]):
    """A durable result: await it (once or many times) to get the value or a TerminalError."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]:
        """Wait for the result."""


class RestateDurableCallFuture(RestateDurableFuture[T]):
    """The future of a call: also exposes the callee's invocation id."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The invocation id of the callee."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the callee (same as ctx.cancel_invocation(await f.invocation_id()))."""


class RestateDurableSleepFuture(RestateDurableFuture[None]):
    """The future of a durable timer."""


class AttemptFinishedEvent(abc.ABC):
    """Set when the current attempt ends (completed, suspended, failed or disconnected)."""

    @abc.abstractmethod
    def is_set(self) -> bool:
        """Whether the attempt is over."""

    @abc.abstractmethod
    async def wait(self) -> None:
        """Wait until the attempt is over."""


@dataclass
class Request:
    """The invocation request: id, headers (from the ingress), attempt headers and the raw body."""

    id: str
    headers: dict[str, str]
    attempt_headers: dict[str, str]
    body: bytes
    attempt_finished_event: AttemptFinishedEvent
    scope: str | None = None
    limit_key: str | None = None
    idempotency_key: str | None = None


class SendHandle(abc.ABC):
    """The handle of a one-way send."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The invocation id of the callee."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the callee."""


class DurablePromise(Generic[T]):
    """A workflow's durable promise: resolved or rejected once, awaited by any handler of the workflow."""

    def __init__(self, name: str, serde: Serde[T] | None = None) -> None:
        self.name = name
        self.serde: Serde[T] = serde if serde is not None else DefaultSerde()

    @abc.abstractmethod
    def resolve(self, value: T) -> Awaitable[None]:
        """Complete the promise with `value` (a 409 TerminalError if it was already completed)."""

    @abc.abstractmethod
    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        """Complete the promise with a failure."""

    @abc.abstractmethod
    def peek(self) -> Awaitable[T | None]:
        """The value if the promise is completed, else None (does not wait)."""

    @abc.abstractmethod
    def value(self) -> RestateDurableFuture[T]:
        """The future of the promise's value."""

    def __await__(self) -> Generator[Any, Any, T]:
        """Wait for the value (same as `await promise.value()`)."""
        return self.value().__await__()
