"""Durable futures, send handles and durable promises backed by VM handles."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from restate.sdk.exceptions import TerminalError
from restate.sdk.futures import (
    DurablePromise,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    SendHandle,
)
from restate.sdk.serde import Serde
from restate.sdk.vm_types import Failure

if TYPE_CHECKING:
    from restate.sdk.server_context import ServerInvocationContext

__all__ = [
    "ServerCallDurableFuture",
    "ServerDurableFuture",
    "ServerDurablePromise",
    "ServerDurableSleepFuture",
    "ServerSendHandle",
]

T = TypeVar("T")
_PENDING, _OK, _FAILED = 0, 1, 2


class ServerDurableFuture(RestateDurableFuture[T]):
    """The future of one VM handle. The result is taken from the VM once and cached, so it can be awaited again."""

    __slots__ = ("_inflight", "_result", "_state", "_transform", "context", "handle")

    def __init__(
        self,
        context: ServerInvocationContext,
        handle: int,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.context = context
        self.handle = handle
        self._transform = transform
        self._state = _PENDING
        self._result: Any = None
        self._inflight: asyncio.Future[None] | None = None

    def is_completed(self) -> bool:
        """True when awaiting would not block (the result is cached or available in the VM)."""
        return self._state != _PENDING or self.context.vm.is_completed(self.handle)

    def __await__(self) -> Generator[Any, Any, T]:
        return self._get().__await__()

    async def _get(self) -> T:
        while self._state == _PENDING:
            if self._inflight is not None:  # another task is resolving it: wait for that one, then look again
                await asyncio.shield(self._inflight)
            else:
                await self._resolve()
        if self._state == _FAILED:
            raise self._result
        return self._result  # type: ignore[no-any-return]

    async def _resolve(self) -> None:
        inflight = self._inflight = asyncio.get_running_loop().create_future()
        try:
            ctx = self.context
            if not ctx.vm.is_completed(self.handle):
                await ctx.poll(self.handle)
            value = ctx.take(self.handle)
            if type(value) is Failure:
                self._result = TerminalError(value.message, value.code, value.metadata)
                self._state = _FAILED
            else:
                transform = self._transform
                self._result = transform(value) if transform is not None and value is not None else value
                self._state = _OK
        finally:
            self._inflight = None
            if not inflight.done():
                inflight.set_result(None)


class ServerDurableSleepFuture(RestateDurableSleepFuture, ServerDurableFuture[None]):
    """The future of a durable timer."""


class ServerCallDurableFuture(RestateDurableCallFuture[T], ServerDurableFuture[T]):
    """The future of a call, plus the callee's invocation id."""

    __slots__ = ("_id_future",)

    def __init__(
        self,
        context: ServerInvocationContext,
        handle: int,
        id_handle: int,
        transform: Callable[[Any], Any] | None,
    ) -> None:
        super().__init__(context, handle, transform)
        self._id_future: ServerDurableFuture[str] = ServerDurableFuture(context, id_handle)

    async def invocation_id(self) -> str:
        """The callee's invocation id."""
        return await self._id_future

    async def cancel_invocation(self) -> None:
        """Cancel the callee."""
        self.context.cancel_invocation(await self.invocation_id())


class ServerSendHandle(SendHandle):
    """The handle of a one-way send."""

    def __init__(self, context: ServerInvocationContext, id_handle: int) -> None:
        self.context = context
        self._id_future: ServerDurableFuture[str] = ServerDurableFuture(context, id_handle)

    async def invocation_id(self) -> str:
        """The callee's invocation id."""
        return await self._id_future

    async def cancel_invocation(self) -> None:
        """Cancel the callee."""
        self.context.cancel_invocation(await self.invocation_id())


class ServerDurablePromise(DurablePromise[T], Generic[T]):
    """A workflow promise (GetPromise / PeekPromise / CompletePromise commands)."""

    def __init__(self, context: ServerInvocationContext, name: str, serde: Serde[T]) -> None:
        super().__init__(name, serde)
        self.context = context

    def value(self) -> RestateDurableFuture[T]:
        """The future of the promise's value."""
        return self.context.future(self.context.vm.sys_get_promise(self.name), self.serde.deserialize)

    def resolve(self, value: T) -> RestateDurableFuture[None]:
        """Complete the promise with `value`; await it to learn whether it was already completed (409)."""
        data = self.serde.serialize(value)
        return self.context.future(self.context.vm.sys_complete_promise(self.name, data), None)

    def reject(self, message: str, code: int = 500) -> RestateDurableFuture[None]:
        """Complete the promise with a failure."""
        handle = self.context.vm.sys_complete_promise(self.name, None, Failure(code, message))
        return self.context.future(handle, None)

    def peek(self) -> RestateDurableFuture[T | None]:
        """The value if completed, else None."""
        return self.context.future(self.context.vm.sys_peek_promise(self.name), self.serde.deserialize)
