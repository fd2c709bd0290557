"""Handler definitions: what a decorated function becomes, its I/O serdes and type hints, and how it is invoked."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from types import UnionType
from typing import Any, Generic, Literal, TypeVar

from restate.sdk.exceptions import TerminalError
from restate.sdk.retry_policy import InvocationRetryPolicy
from restate.sdk.serde import DefaultSerde, MsgspecJsonSerde, PydanticJsonSerde, Serde, is_msgspec_struct, is_pydantic

__all__ = [
    "Handler",
    "HandlerIO",
    "ServiceTag",
    "TypeHint",
    "extract_core_type",
    "handler_from_callable",
    "invoke_handler",
    "make_handler",
]

I = TypeVar("I")  # noqa: E741 - the official SDK's name
O = TypeVar("O")  # noqa: E741

HandlerKind = Literal["exclusive", "shared", "workflow"]
ContextManagerFactory = Callable[[], AbstractAsyncContextManager[None]]

#: Attribute under which a decorated function keeps its Handler.
RESTATE_UNIQUE_HANDLER_SYMBOL = "__restate_handler__"


@dataclass
class ServiceTag:
    """Identifies the service a handler belongs to."""

    kind: Literal["object", "service", "workflow"]
    name: str
    description: str | None = None
    metadata: dict[str, str] | None = None


@dataclass
class TypeHint(Generic[I]):
    """The input or output type of a handler, as found in its signature."""

    annotation: Any = None
    is_void: bool = False
    generate_json_schema: Callable[[], dict[str, Any]] | None = None


@dataclass
class HandlerIO(Generic[I, O]):
    """Content types, serdes and types of a handler's input and output."""

    accept: str
    content_type: str
    input_serde: Serde[I]
    output_serde: Serde[O]
    input_type: TypeHint[I] | None = None
    output_type: TypeHint[O] | None = None


@dataclass
class Handler(Generic[I, O]):
    """A handler of a service, virtual object or workflow (what the decorators register)."""

    service_tag: ServiceTag
    handler_io: HandlerIO[I, O]
    kind: HandlerKind | None
    name: str
    fn: Callable[..., Awaitable[O]]
    arity: int
    description: str | None = None
    metadata: dict[str, str] | None = None
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    journal_retention: timedelta | None = None
    idempotency_retention: timedelta | None = None
    workflow_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    state_preload: bool | list[str] | None = None
    ingress_private: bool | None = None
    invocation_retry_policy: InvocationRetryPolicy | None = None
    context_managers: list[ContextManagerFactory] | None = None
    explicit_recovery: bool = False


def extract_core_type(annotation: Any) -> tuple[Literal["optional", "simple"], Any]:
    """Split `Optional[T]` / `T | None` into ("optional", T); anything else is ("simple", annotation)."""
    if annotation is None:
        return "simple", annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, UnionType) and len(args) == 2 and type(None) in args:
        return "optional", args[0] if args[1] is type(None) else args[1]
    return "simple", annotation


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    t = schema.get("type")
    if t is None:
        schema["type"] = ["null"]
    elif isinstance(t, list):
        if "null" not in t:
            t.append("null")
    elif t != "null":
        schema["type"] = [t, "null"]
    return schema


def _typed(annotation: Any, serde: Serde[Any]) -> tuple[TypeHint[Any], Serde[Any]]:
    """The TypeHint for `annotation`, and the serde to use (a model/struct serde replaces a DefaultSerde)."""
    kind, core = extract_core_type(annotation)
    hint: TypeHint[Any] = TypeHint(annotation=core)
    make: Callable[[], dict[str, Any]] | None = None
    if is_msgspec_struct(core):
        import msgspec  # noqa: PLC0415 - only when the user already uses msgspec

        make = lambda: msgspec.json.schema(core)  # noqa: E731
        serde = MsgspecJsonSerde(core) if isinstance(serde, DefaultSerde) else serde
    elif is_pydantic(core):
        make = lambda: core.model_json_schema(mode="serialization")  # noqa: E731
        serde = PydanticJsonSerde(core) if isinstance(serde, DefaultSerde) else serde
    elif isinstance(serde, DefaultSerde):
        serde = DefaultSerde(core)
    if make is not None:
        hint.generate_json_schema = (lambda: _nullable(make())) if kind == "optional" else make
    return hint, serde


def _update_io(io: HandlerIO[Any, Any], signature: inspect.Signature) -> None:
    params = list(signature.parameters.values())
    if len(params) == 1:
        io.input_type = TypeHint(is_void=True)
    else:
        io.input_type, io.input_serde = _typed(params[-1].annotation, io.input_serde)
    ret = signature.return_annotation
    if ret is None or ret is inspect.Signature.empty:
        io.output_type = TypeHint(is_void=True)
    else:
        io.output_type, io.output_serde = _typed(ret, io.output_serde)


def make_handler(
    service_tag: ServiceTag,
    handler_io: HandlerIO[I, O],
    name: str | None,
    kind: HandlerKind | None,
    wrapped: Any,
    signature: inspect.Signature,
    **options: Any,
) -> Handler[I, O]:
    """Build the Handler for `wrapped` and attach it to the function (see handler_from_callable).

    Args:
        service_tag: the owning service.
        handler_io: content types and serdes; type hints from `signature` refine it in place.
        name: the handler name (default: the function name).
        kind: "exclusive", "shared", "workflow", or None for plain services.
        wrapped: the function object the decorator returns.
        signature: the signature of the user function (1 or 2 parameters: ctx[, input]).
        **options: the optional Handler fields (description, metadata, timeouts, retention, ...).
    """
    handler_name = name or wrapped.__name__
    if not handler_name:
        raise ValueError("Handler name must be provided")
    if len(signature.parameters) == 0:
        raise ValueError("Handler must have at least one parameter")
    if options.get("state_preload") is not None and options.get("enable_lazy_state") is not None:
        raise ValueError("Cannot set both 'state_preload' and the deprecated 'enable_lazy_state'.")
    _update_io(handler_io, signature)
    handler = Handler[I, O](
        service_tag=service_tag,
        handler_io=handler_io,
        kind=kind,
        name=handler_name,
        fn=wrapped,
        arity=len(signature.parameters),
        **options,
    )
    vars(wrapped)[RESTATE_UNIQUE_HANDLER_SYMBOL] = handler
    return handler


def handler_from_callable(fn: Any) -> Handler[Any, Any]:
    """The Handler a decorated function was registered as (ValueError if it is not a handler)."""
    try:
        return vars(fn)[RESTATE_UNIQUE_HANDLER_SYMBOL]  # type: ignore[no-any-return]
    except (KeyError, TypeError):
        raise ValueError(f"{fn!r} is not a Restate handler (decorate it with @service.handler())") from None


async def invoke_handler(handler: Handler[Any, Any], ctx: Any, in_buffer: bytes) -> bytes:
    """Deserialize the input, run the handler and serialize its output."""
    if handler.arity == 2:
        try:
            in_arg = handler.handler_io.input_serde.deserialize(in_buffer)
        except Exception as e:
            raise TerminalError(f"Unable to parse an input argument. {e}", 400) from e
        out = await handler.fn(ctx, in_arg)
    else:
        out = await handler.fn(ctx)
    return bytes(handler.handler_io.output_serde.serialize(out))


def register(
    handlers: dict[str, Handler[Any, Any]],
    service_name: str,
    make: Callable[[Any, inspect.Signature], Handler[Any, Any]],
) -> Callable[[Any], Any]:
    """The decorator body shared by Service, VirtualObject and Workflow."""

    def decorator(fn: Any) -> Any:
        signature = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        handler = make(wrapped, signature)
        if handler.name in handlers:
            raise ValueError(f"Handler {handler.name} already exists in {service_name}")
        handlers[handler.name] = handler
        return wrapped

    return decorator
