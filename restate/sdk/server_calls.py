"""Calls, sends, awakeables, signals, promises and invocation management of ServerInvocationContext."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from restate.sdk.context import ScopedContext
from restate.sdk.handler import handler_from_callable
from restate.sdk.serde import BytesSerde, DefaultSerde, Serde
from restate.sdk.server_futures import (
    ServerCallDurableFuture,
    ServerDurableFuture,
    ServerDurablePromise,
    ServerSendHandle,
)
from restate.sdk.vm_types import Failure

if TYPE_CHECKING:
    from restate.sdk.vm import VM

__all__ = ["CallsMixin", "ServerScopedContext"]

T = TypeVar("T")
_BYTES = BytesSerde()


def _typed(serde: Serde[Any], type_hint: Any) -> Serde[Any]:
    return DefaultSerde(type_hint) if type(serde) is DefaultSerde and type_hint is not None else serde


class CallsMixin:
    """The calls / awakeables / promises part of ServerInvocationContext."""

    vm: VM

    # --- calls ---------------------------------------------------------------------------------

    def do_call(self, tpe: Any, parameter: Any, key: str | None = None, send_delay: timedelta | None = None,
                send: bool = False, idempotency_key: str | None = None, headers: dict[str, str] | None = None,
                scope: str | None = None, limit_key: str | None = None) -> Any:  # fmt: skip
        """Call or send to the handler `tpe` (a decorated function)."""
        target = handler_from_callable(tpe)
        io = target.handler_io
        return self.do_raw_call(target.service_tag.name, target.name, parameter, io.input_serde, io.output_serde, key,
                                send_delay, send, idempotency_key, headers, scope, limit_key)  # fmt: skip

    def do_raw_call(self, service: str, handler: str, input_param: Any, input_serde: Serde[Any],
                    output_serde: Serde[Any], key: str | None = None, send_delay: timedelta | None = None,
                    send: bool = False, idempotency_key: str | None = None, headers: dict[str, str] | None = None,
                    scope: str | None = None, limit_key: str | None = None) -> Any:  # fmt: skip
        """Call or send to `service/handler` with explicit serdes."""
        parameter = bytes(input_serde.serialize(input_param))
        header_list = list(headers.items()) if headers else None
        if send or send_delay:
            delay = int(send_delay.total_seconds() * 1000) if send_delay else None
            handle = self.vm.sys_send(service, handler, parameter, key, delay, idempotency_key, header_list, scope,
                                      limit_key, now_ms=int(time.time() * 1000))  # fmt: skip
            return ServerSendHandle(self, handle)  # type: ignore[arg-type]
        call = self.vm.sys_call(service, handler, parameter, key, idempotency_key, header_list, scope, limit_key)
        return ServerCallDurableFuture(
            self,  # type: ignore[arg-type]
            call.result_handle,
            call.invocation_id_handle,
            output_serde.deserialize,
        )

    def service_call(self, tpe: Any, arg: Any, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.do_call(tpe, arg, idempotency_key=idempotency_key, headers=headers)

    def service_send(self, tpe: Any, arg: Any, send_delay: timedelta | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.do_call(tpe, arg, None, send_delay, True, idempotency_key, headers)

    def object_call(self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.do_call(tpe, arg, key, idempotency_key=idempotency_key, headers=headers)

    def object_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                    idempotency_key: str | None = None, headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.do_call(tpe, arg, key, send_delay, True, idempotency_key, headers)

    def workflow_call(self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.object_call(tpe, key, arg, idempotency_key, headers)

    def workflow_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                      idempotency_key: str | None = None, headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.object_send(tpe, key, arg, send_delay, idempotency_key, headers)

    def generic_call(self, service: str, handler: str, arg: bytes, key: str | None = None,
                     idempotency_key: str | None = None, headers: dict[str, str] | None = None,
                     scope: str | None = None, limit_key: str | None = None) -> Any:  # fmt: skip
        return self.do_raw_call(service, handler, arg, _BYTES, _BYTES, key, None, False, idempotency_key, headers,
                                scope, limit_key)  # fmt: skip

    def generic_send(self, service: str, handler: str, arg: bytes, key: str | None = None,
                     send_delay: timedelta | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None, scope: str | None = None,
                     limit_key: str | None = None) -> Any:  # fmt: skip
        return self.do_raw_call(service, handler, arg, _BYTES, _BYTES, key, send_delay, True, idempotency_key,
                                headers, scope, limit_key)  # fmt: skip

    def scope(self, scope: str) -> ServerScopedContext:
        return ServerScopedContext(self, scope)

    # --- awakeables and signals ----------------------------------------------------------------

    def awakeable(self, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None) -> tuple[str, Any]:
        name, handle = self.vm.sys_awakeable()
        return name, ServerDurableFuture(self, handle, _typed(serde, type_hint).deserialize)  # type: ignore[arg-type]

    def resolve_awakeable(self, name: str, value: Any, serde: Serde[Any] = DefaultSerde()) -> None:
        self.vm.sys_complete_awakeable(name, bytes(serde.serialize(value)))

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        self.vm.sys_complete_awakeable(name, None, Failure(failure_code, failure_message))

    def signal(self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None) -> Any:
        return ServerDurableFuture(self, self.vm.sys_signal(name), _typed(serde, type_hint).deserialize)  # type: ignore[arg-type]

    def resolve_signal(self, invocation_id: str, name: str, value: Any, serde: Serde[Any] = DefaultSerde()) -> None:
        self.vm.sys_complete_signal(invocation_id, name, bytes(serde.serialize(value)), None)

    def reject_signal(self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500) -> None:
        self.vm.sys_complete_signal(invocation_id, name, None, Failure(failure_code, failure_message))

    # --- promises and other invocations --------------------------------------------------------

    def promise(self, name: str, serde: Serde[T] = DefaultSerde(), type_hint: type[T] | None = None) -> Any:
        return ServerDurablePromise(self, name, _typed(serde, type_hint))  # type: ignore[arg-type]

    def cancel_invocation(self, invocation_id: str) -> None:
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        self.vm.sys_cancel(invocation_id)

    def attach_invocation(self, invocation_id: str, serde: Serde[T] = DefaultSerde(),
                          type_hint: type[T] | None = None) -> Any:  # fmt: skip
        if invocation_id is None:
            raise ValueError("invocation_id cannot be None")
        handle = self.vm.sys_attach_invocation(invocation_id)
        return ServerDurableFuture(self, handle, _typed(serde, type_hint).deserialize)  # type: ignore[arg-type]


class ServerScopedContext(ScopedContext):
    """The calls of a context, within one scope."""

    def __init__(self, context: CallsMixin, scope: str) -> None:
        self.context = context
        self.scope = scope

    def _call(self, tpe: Any, arg: Any, key: str | None, delay: timedelta | None, send: bool, limit: str | None,
              idempotency_key: str | None, headers: dict[str, str] | None) -> Any:  # fmt: skip
        return self.context.do_call(tpe, arg, key, delay, send, idempotency_key, headers, self.scope, limit)

    def service_call(self, tpe: Any, arg: Any, limit_key: str | None = None, idempotency_key: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self._call(tpe, arg, None, None, False, limit_key, idempotency_key, headers)

    def service_send(self, tpe: Any, arg: Any, send_delay: timedelta | None = None, limit_key: str | None = None,
                     idempotency_key: str | None = None, headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self._call(tpe, arg, None, send_delay, True, limit_key, idempotency_key, headers)

    def object_call(self, tpe: Any, key: str, arg: Any, limit_key: str | None = None,
                    idempotency_key: str | None = None, headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self._call(tpe, arg, key, None, False, limit_key, idempotency_key, headers)

    def object_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                    limit_key: str | None = None, idempotency_key: str | None = None,
                    headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self._call(tpe, arg, key, send_delay, True, limit_key, idempotency_key, headers)

    def workflow_call(self, tpe: Any, key: str, arg: Any, limit_key: str | None = None,
                      idempotency_key: str | None = None, headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.object_call(tpe, key, arg, limit_key, idempotency_key, headers)

    def workflow_send(self, tpe: Any, key: str, arg: Any, send_delay: timedelta | None = None,
                      limit_key: str | None = None, idempotency_key: str | None = None,
                      headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self.object_send(tpe, key, arg, send_delay, limit_key, idempotency_key, headers)
