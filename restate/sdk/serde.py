"""Serializers: JSON by default, plus pydantic models, msgspec Structs and dataclasses when those are used."""

from __future__ import annotations

import abc
import dataclasses
import json
import sys
import typing
from typing import Any, Generic, TypeVar

__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
    "dataclass_from_dict",
    "is_msgspec_struct",
    "is_pydantic",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the official SDK's name


def is_pydantic(annotation: Any) -> bool:
    """True if `annotation` is a pydantic model class.

    Cheap: if pydantic was never imported, no class can derive from its BaseModel.
    """
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return False
    try:
        return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)
    except TypeError:
        return False


def is_msgspec_struct(annotation: Any) -> bool:
    """True if `annotation` is a msgspec Struct class (only checked when msgspec was imported)."""
    msgspec = sys.modules.get("msgspec")
    if msgspec is None:
        return False
    try:
        return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
    except TypeError:
        return False


def _convert(tp: Any, data: Any) -> Any:
    """Rebuild nested dataclasses (also inside list[...] and Optional[...]) from JSON data."""
    if data is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(data, dict):
        return dataclass_from_dict(tp, data)
    if is_pydantic(tp):
        return tp.model_validate(data)
    if is_msgspec_struct(tp):
        return sys.modules["msgspec"].convert(data, tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, set, tuple, frozenset) and args and isinstance(data, list):
        return origin(_convert(args[0], item) for item in data)
    if origin is dict and len(args) == 2 and isinstance(data, dict):
        return {k: _convert(args[1], v) for k, v in data.items()}
    if args and origin is not None and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], data) if len(inner) == 1 else data
    return data


def _json_default(obj: Any) -> Any:
    """JSON for model objects nested in dataclasses (pydantic models, msgspec Structs)."""
    if is_pydantic(type(obj)):
        return obj.model_dump(mode="json")
    if is_msgspec_struct(type(obj)):
        return sys.modules["msgspec"].to_builtins(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dataclass_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from a JSON object, recursing into nested dataclass fields."""
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _convert(hints.get(f.name), data[f.name]) for f in dataclasses.fields(cls) if f.name in data}  # type: ignore[arg-type]
    return cls(**kwargs)


class Serde(Generic[T], abc.ABC):
    """Serializer/deserializer interface: bytes <-> values."""

    @abc.abstractmethod
    def deserialize(self, buf: bytes) -> T | None:
        """Bytes to a value."""

    @abc.abstractmethod
    def serialize(self, obj: T | None) -> bytes:
        """A value to bytes."""


class BytesSerde(Serde[bytes]):
    """Pass-through: the value is the raw bytes."""

    def deserialize(self, buf: bytes) -> bytes | None:
        """Return `buf` unchanged."""
        return buf

    def serialize(self, obj: bytes | None) -> bytes:
        """Return `obj` unchanged (None becomes empty bytes)."""
        return b"" if obj is None else obj


class JsonSerde(Serde[I]):
    """Plain `json` module (empty bytes are None)."""

    def deserialize(self, buf: bytes) -> I | None:
        """Parse JSON; empty input is None."""
        return json.loads(buf) if buf else None

    def serialize(self, obj: I | None) -> bytes:
        """Dump JSON; None becomes empty bytes."""
        return b"" if obj is None else json.dumps(obj).encode()


class DefaultSerde(Serde[I]):
    """JSON, specialised by a type hint: pydantic models, msgspec Structs and dataclasses round-trip as such."""

    def __init__(self, type_hint: type[I] | None = None) -> None:
        super().__init__()
        self.type_hint = type_hint

    def with_maybe_type(self, type_hint: type[I] | None = None) -> DefaultSerde[I]:
        """A new DefaultSerde for `type_hint` (this one is left unchanged)."""
        return DefaultSerde(type_hint)

    def deserialize(self, buf: bytes) -> I | None:
        """Parse JSON into the hinted type (plain JSON values without a usable hint)."""
        if not buf:
            return None
        hint = self.type_hint
        if hint is None:
            return json.loads(buf)  # type: ignore[no-any-return]
        if is_msgspec_struct(hint):
            return sys.modules["msgspec"].json.decode(buf, type=hint)  # type: ignore[no-any-return]
        if is_pydantic(hint):
            return hint.model_validate_json(buf)  # type: ignore[attr-defined,no-any-return]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return dataclass_from_dict(hint, json.loads(buf))
        return json.loads(buf)  # type: ignore[no-any-return]

    def serialize(self, obj: I | None) -> bytes:
        """Dump JSON, using the model/struct/dataclass encoders where they apply."""
        if obj is None:
            return b""
        if self.type_hint is None and type(obj) in (str, int, float, bool, dict, list):
            return json.dumps(obj).encode()
        if is_msgspec_struct(type(obj)):
            return sys.modules["msgspec"].json.encode(obj)  # type: ignore[no-any-return]
        if is_pydantic(type(obj)):
            return obj.model_dump_json().encode()  # type: ignore[attr-defined,no-any-return]
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return json.dumps(dataclasses.asdict(obj), default=_json_default).encode()
        return json.dumps(obj).encode()


class PydanticJsonSerde(Serde[I]):
    """JSON through a pydantic model class."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def deserialize(self, buf: bytes) -> I | None:
        """Validate JSON into the model; empty input is None."""
        return self.model.model_validate_json(buf) if buf else None  # type: ignore[no-any-return]

    def serialize(self, obj: I | None) -> bytes:
        """Dump the model as JSON; None becomes empty bytes."""
        return b"" if obj is None else obj.model_dump_json().encode()  # type: ignore[attr-defined,no-any-return]


class MsgspecJsonSerde(Serde[I]):
    """JSON through a msgspec Struct class."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def deserialize(self, buf: bytes) -> I | None:
        """Decode JSON into the Struct; empty input is None."""
        if not buf:
            return None
        import msgspec  # noqa: PLC0415 - optional dependency

        return msgspec.json.decode(buf, type=self.model)  # type: ignore[no-any-return]

    def serialize(self, obj: I | None) -> bytes:
        """Encode the Struct as JSON; None becomes empty bytes."""
        if obj is None:
            return b""
        import msgspec  # noqa: PLC0415 - optional dependency

        return msgspec.json.encode(obj)
