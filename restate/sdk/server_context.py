"""The context handed to handlers: drives the VM from asyncio (await points, runs, state) for one attempt."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import traceback
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from random import Random
from typing import Any, TypeVar
from uuid import UUID

from restate.sdk.context import AttemptFinishedEvent, Request, WorkflowContext
from restate.sdk.exceptions import (
    DisconnectedException,
    RetryableError,
    SdkInternalBaseException,
    SuspendedException,
    TerminalError,
)
from restate.sdk.handler import Handler, invoke_handler
from restate.sdk.otel import SdkSpans
from restate.sdk.serde import DefaultSerde, Serde
from restate.sdk.server_calls import CallsMixin
from restate.sdk.server_futures import ServerDurableFuture, ServerDurableSleepFuture
from restate.sdk.server_io import AttemptIO
from restate.sdk.server_run import RunMixin
from restate.sdk.vm import VM
from restate.sdk.vm_types import (
    ANY_COMPLETED,
    CANCEL_SIGNALED,
    NOT_READY,
    SUSPENDED,
    WAIT_EXTERNAL,
    ExecuteRun,
    Failure,
    Invocation,
    UnresolvedFuture,
)

__all__ = ["ServerInvocationContext", "current_context", "restate_context_is_replaying"]

logger = logging.getLogger("restate.sdk")
T = TypeVar("T")

restate_context_is_replaying: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "restate_context_is_replaying", default=False
)
_current: contextvars.ContextVar[ServerInvocationContext | None] = contextvars.ContextVar(
    "restate_context", default=None
)


def current_context() -> ServerInvocationContext | None:
    """The context of the invocation running in this task, if any."""
    return _current.get()


class _AttemptFinished(AttemptFinishedEvent):
    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


class ServerInvocationContext(RunMixin, CallsMixin, WorkflowContext):
    """Implements every context flavour (service, object, workflow, shared) on top of one VM."""

    def __init__(
        self,
        vm: VM,
        handler: Handler[Any, Any],
        invocation: Invocation,
        attempt_headers: dict[str, str],
        io: AttemptIO,
        spans: SdkSpans | None = None,
    ) -> None:
        self.vm = vm
        self.handler = handler
        self.invocation = invocation
        self.attempt_headers = attempt_headers
        self.io = io
        self.random_instance = Random(invocation.random_seed)
        self.run_closures: dict[int, Callable[[], Any]] = {}
        self.tasks: set[asyncio.Future[Any]] = set()
        self.finished = asyncio.Event()
        self.extension_data: dict[str, Any] = {}
        self.spans = spans  # opt-in OpenTelemetry spans; None: none made
        self.handler_span: Any = None

    # --- the await loop ------------------------------------------------------------------------

    async def poll(self, fut: UnresolvedFuture) -> None:
        """Drive the VM until `fut` can be resolved: execute runs, flush output, wait for input.

        Raises TerminalError(409 "cancelled") on cancellation and SuspendedException when suspended.
        """
        vm = self.vm
        io = self.io
        while True:
            seen = io.generation
            progress = vm.do_progress(fut)
            if progress is ANY_COMPLETED:
                restate_context_is_replaying.set(vm.is_replaying())
                return
            if progress is WAIT_EXTERNAL:
                await io.flush()
                if io.disconnected:
                    raise DisconnectedException()
                await io.wait(seen)
            elif type(progress) is ExecuteRun:
                self.start_run(progress.handle)
            elif progress is CANCEL_SIGNALED:
                raise TerminalError("cancelled", 409)
            elif progress is SUSPENDED:
                raise SuspendedException()

    def take(self, handle: int) -> Any:
        """The result of a resolved handle (a Failure is returned, not raised)."""
        result = self.vm.take_notification(handle)
        if result is NOT_READY or result is SUSPENDED:
            raise SuspendedException()
        return result

    def future(self, handle: int, transform: Callable[[Any], Any] | None) -> ServerDurableFuture[Any]:
        """A durable future of `handle` whose bytes go through `transform` (a deserializer)."""
        return ServerDurableFuture(self, handle, transform)

    # --- attempt lifecycle ---------------------------------------------------------------------

    async def enter(self) -> None:
        """Run the handler and record its output, terminal failure or retryable error in the VM."""
        if self.spans is None:
            await self._enter()
            return
        target = self.handler.service_tag
        with self.spans.handler(self.attempt_headers, target.name, self.handler.name, self.invocation.invocation_id,
                                self.vm.is_replaying()) as span:  # fmt: skip
            self.handler_span = span
            await self._enter()

    async def _enter(self) -> None:
        restate_context_is_replaying.set(self.vm.is_replaying())
        token = _current.set(self)
        try:
            async with AsyncExitStack() as stack:
                for manager in self.handler.context_managers or ():
                    await stack.enter_async_context(manager())
                out = await invoke_handler(self.handler, self, self.invocation.input_buffer)
            restate_context_is_replaying.set(False)
            self.vm.sys_write_output_success(out)
            self.vm.sys_end()
        except SdkInternalBaseException:
            pass
        except (DisconnectedException, asyncio.CancelledError):
            raise
        except Exception as e:  # noqa: BLE001 - every user error ends the attempt one way or another
            if self.handler_span is not None and self.spans is not None:
                self.spans.failed(self.handler_span, e, str(e))
            self._on_error(e)
        finally:
            _current.reset(token)

    def _on_error(self, error: Exception) -> None:
        """TerminalError -> failed output; RetryableError/anything else -> retry (also when wrapped as __cause__)."""
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, SdkInternalBaseException):
                return
            if isinstance(cause, TerminalError):
                self._write_failure(Failure(cause.status_code, cause.message, metadata=cause.metadata))
                return
            if isinstance(cause, RetryableError):
                delay = None if cause.retry_after is None else int(cause.retry_after.total_seconds() * 1000)
                self.vm.notify_error(cause.message, _stack(cause), delay, cause.status_code)
                return
            cause = cause.__cause__
        logger.warning("Exception in Restate handler %s: %r", self.handler.name, error, exc_info=error)
        self.vm.notify_error(repr(error), _stack(error))

    def _write_failure(self, failure: Failure) -> None:
        restate_context_is_replaying.set(False)
        try:
            self.vm.sys_write_output_failure(failure)
            self.vm.sys_end()
        except SdkInternalBaseException:
            pass

    def on_attempt_finished(self) -> None:
        """The attempt is over: cancel pending run tasks and set the attempt-finished event."""
        restate_context_is_replaying.set(False)
        self.finished.set()
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()

    # --- invocation info and deterministic helpers ---------------------------------------------

    def request(self) -> Request:
        inv = self.invocation
        return Request(
            id=inv.invocation_id,
            headers=dict(inv.headers),
            attempt_headers=self.attempt_headers,
            body=inv.input_buffer,
            attempt_finished_event=_AttemptFinished(self.finished),
            scope=inv.scope,
            limit_key=inv.limit_key,
            idempotency_key=inv.idempotency_key,
        )

    def key(self) -> str:
        return self.invocation.key

    def random(self) -> Random:
        return self.random_instance

    def uuid(self) -> UUID:
        return UUID(int=self.random_instance.getrandbits(128), version=4)

    def time(self) -> ServerDurableFuture[float]:  # type: ignore[override]
        return self.run_typed("timestamp", time.time)  # type: ignore[return-value]

    def sleep(self, delta: timedelta, name: str | None = None) -> ServerDurableSleepFuture:
        millis = int(delta.total_seconds() * 1000)
        handle = self.vm.sys_sleep(millis, name, now_ms=int(time.time() * 1000))
        return ServerDurableSleepFuture(self, handle)

    # --- state ---------------------------------------------------------------------------------

    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> ServerDurableFuture[T | None]:
        if type(serde) is DefaultSerde and type_hint is not None:
            serde = DefaultSerde(type_hint)
        return ServerDurableFuture(self, self.vm.sys_get_state(name, entry_name), serde.deserialize)

    def state_keys(self, entry_name: str | None = None) -> ServerDurableFuture[list[str]]:
        return ServerDurableFuture(self, self.vm.sys_get_state_keys(entry_name))

    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde(), entry_name: str | None = None) -> None:
        self.vm.sys_set_state(name, bytes(serde.serialize(value)), entry_name)

    def clear(self, name: str, entry_name: str | None = None) -> None:
        self.vm.sys_clear_state(name, entry_name)

    def clear_all(self, entry_name: str | None = None) -> None:
        self.vm.sys_clear_all_state(entry_name)

    # --- extension data (integrations) ---------------------------------------------------------

    def get_extension_data(self, key: str) -> Any:
        """Data an integration attached to this invocation."""
        return self.extension_data.get(key)

    def set_extension_data(self, key: str, value: Any) -> None:
        """Attach integration data to this invocation."""
        self.extension_data[key] = value


def _stack(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))
