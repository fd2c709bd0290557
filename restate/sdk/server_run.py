"""ctx.run / ctx.run_typed: register the step, execute its closure when awaited, propose the result to the VM."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from restate.sdk.exceptions import RetryableError, SdkInternalBaseException, TerminalError
from restate.sdk.futures import RunOptions
from restate.sdk.handler import extract_core_type
from restate.sdk.serde import DefaultSerde, Serde
from restate.sdk.server_futures import ServerDurableFuture
from restate.sdk.vm_types import Failure, Invocation, RunRetryConfig

if TYPE_CHECKING:
    from restate.sdk.otel import SdkSpans
    from restate.sdk.server_io import AttemptIO
    from restate.sdk.vm import VM

__all__ = ["RunMixin"]

T = TypeVar("T")


def _ms(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds() * 1000)


def _return_hint(action: Any) -> Any:
    """The return annotation of `action` (cheap for plain functions; None when there is none)."""
    annotations = getattr(action, "__annotations__", None)
    if isinstance(annotations, dict) and not isinstance(annotations.get("return"), str):
        return annotations.get("return")
    try:
        ret = inspect.signature(action, eval_str=True).return_annotation
    except (TypeError, ValueError, NameError):
        return None
    return None if ret is inspect.Signature.empty else ret


def _serde_for(serde: Serde[Any], type_hint: Any, action: Any) -> Serde[Any]:
    if type(serde) is not DefaultSerde or serde.type_hint is not None:
        return serde
    hint = type_hint if type_hint is not None else _return_hint(action)
    return DefaultSerde(extract_core_type(hint)[1]) if hint is not None else serde


class RunMixin:
    """The ctx.run part of ServerInvocationContext."""

    vm: VM
    io: AttemptIO
    run_closures: dict[int, Callable[[], Any]]
    tasks: set[asyncio.Future[Any]]
    spans: SdkSpans | None
    handler_span: Any
    invocation: Invocation

    def run(
        self,
        name: str,
        action: Callable[..., Any],
        serde: Serde[T] = DefaultSerde(),
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> ServerDurableFuture[T]:
        """Run `action(*args)` once and journal its result (deprecated: use run_typed)."""
        options: RunOptions[Any] = RunOptions(serde=serde, type_hint=type_hint, max_attempts=max_attempts,
                                              max_duration=max_retry_duration)  # fmt: skip
        call = functools.partial(action, *args) if args else action
        return self._register_run(name, call, _serde_for(serde, type_hint, action), options)

    def run_typed(
        self,
        name: str,
        action: Callable[..., Any],
        options: RunOptions[T] = RunOptions(),  # noqa: B008 - immutable in practice, as in the official SDK
        /,
        *args: Any,
        **kwargs: Any,
    ) -> ServerDurableFuture[T]:
        """Run `action(*args, **kwargs)` once, retrying per `options`, and journal its result."""
        call = functools.partial(action, *args, **kwargs) if args or kwargs else action
        return self._register_run(name, call, _serde_for(options.serde, options.type_hint, action), options)

    def _register_run(
        self, name: str, action: Callable[..., Any], serde: Serde[Any], options: RunOptions[Any]
    ) -> ServerDurableFuture[Any]:
        run = self.vm.sys_run(name)
        if not run.replayed:
            execute = self._execute if self.spans is None else functools.partial(self._execute_traced, name)
            self.run_closures[run.handle] = lambda: execute(run.handle, action, serde, options)
        return ServerDurableFuture(self, run.handle, serde.deserialize)  # type: ignore[arg-type]

    def start_run(self, handle: int) -> None:
        """Execute the closure of run `handle` in a task; the VM gets its result, then waiters are woken."""
        closure = self.run_closures.pop(handle)

        async def execute() -> None:
            try:
                await closure()
            finally:
                self.io.wake()

        task = asyncio.ensure_future(execute())
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: failures were already reported to the VM

    async def _execute_traced(self, name: str, handle: int, action: Callable[..., Any], serde: Serde[Any],
                              opts: RunOptions[Any]) -> None:  # fmt: skip
        """_execute inside a `ctx.run {name}` span (opt-in tracing): ERROR when the step failed."""
        assert self.spans is not None
        with self.spans.run(self.handler_span, name, self.invocation.invocation_id) as span:
            error = await self._execute(handle, action, serde, opts)
            if error is not None:
                self.spans.failed(span, error, str(error))

    async def _execute(
        self, handle: int, action: Callable[..., Any], serde: Serde[Any], opts: RunOptions[Any]
    ) -> Exception | None:
        """Runs the step once and proposes its result to the VM; returns the step's error, if it failed."""
        started = time.monotonic()
        vm = self.vm
        try:
            if inspect.iscoroutinefunction(action) or inspect.iscoroutinefunction(getattr(action, "func", None)):
                result = await action()
            else:
                loop = asyncio.get_running_loop()
                call = functools.partial(contextvars.copy_context().run, action)
                result = await loop.run_in_executor(None, call)
                if inspect.isawaitable(result):
                    result = await result
            vm.propose_run_completion_success(handle, bytes(serde.serialize(result)))
        except TerminalError as t:
            vm.propose_run_completion_failure(handle, Failure(t.status_code, t.message, metadata=t.metadata))
            return t
        except (asyncio.CancelledError, SdkInternalBaseException):
            raise
        except Exception as e:  # noqa: BLE001 - a failing step is retried per its policy
            self._propose_transient(handle, e, int((time.monotonic() - started) * 1000), opts)
            return e
        return None

    def _propose_transient(self, handle: int, error: Exception, duration_ms: int, opts: RunOptions[Any]) -> None:
        max_duration = opts.max_duration if opts.max_duration is not None else opts.max_retry_duration
        if isinstance(error, RetryableError):
            failure = Failure(error.status_code, error.message, "".join(traceback.format_exception(error)))
            config = RunRetryConfig(max_attempts=opts.max_attempts, max_duration=_ms(max_duration))
            self.vm.propose_run_completion_transient(handle, failure, duration_ms, config, _ms(error.retry_after))
            return
        failure = Failure(500, repr(error), "".join(traceback.format_exception(error)))
        config = RunRetryConfig(
            initial_interval=_ms(opts.initial_retry_interval),
            max_attempts=opts.max_attempts,
            max_duration=_ms(max_duration),
            max_interval=_ms(opts.max_retry_interval),
            interval_factor=opts.retry_interval_factor,
        )
        self.vm.propose_run_completion_transient(handle, failure, duration_ms, config)
