"""Decoding a JSON body into a struct with the rejections axum + serde_json give (400 / 422 text/plain).

serde streams a struct: each known member is converted as soon as it is read (so a type error
before a syntax error further on wins), unknown members are skipped, missing fields are noticed
at the end, and trailing characters only after all that. A JSON array fills the fields in
declaration order. Errors carry serde_path_to_error's path (`new_state.a[0]: ...`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from restate.admin.errors import PlainError
from restate.durations import DurationError, parse_duration_ns
from restate.serde_json_errors import (
    JsonSyntaxError,
    Scan,
    byte_position,
    error_offset,
    format_path,
    scan,
    unexpected,
)

PARSE = "Failed to parse the request body as JSON: "
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


class Mismatch(Exception):
    """A value a field cannot take; `path` continues the field's path, `offset` is where serde says."""

    def __init__(self, message: str, offset: int, path: str = "") -> None:
        super().__init__(message)
        self.message, self.offset, self.path = message, offset, path


# A converter gets the raw body, the value and its byte span; returns the field's value or raises Mismatch.
Converter = Callable[[bytes, object, int, int], object]


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field: `optional` (an Option: missing or null is None), `default` (may end a JSON array early)."""

    name: str
    convert: Converter
    optional: bool = True
    default: bool = True
    map_typed: bool = False  # a map: serde_path_to_error shows a key not read yet as `?`


def _expect(expected: str, value: object, start: int, end: int) -> Mismatch:
    return Mismatch(f"invalid type: {unexpected(value)}, expected {expected}", error_offset(value, start, end))


def boolean(data: bytes, value: object, start: int, end: int) -> object:
    if not isinstance(value, bool):
        raise _expect("a boolean", value, start, end)
    return value


def string(data: bytes, value: object, start: int, end: int) -> object:
    if not isinstance(value, str):
        raise _expect("a string", value, start, end)
    return value


def duration_ms(data: bytes, value: object, start: int, end: int) -> object:
    """A friendly ("2h", "5 minutes") or ISO-8601 ("PT2M") duration, in milliseconds."""
    text = string(data, value, start, end)
    assert isinstance(text, str)
    try:
        return parse_duration_ns(text) // 1_000_000
    except DurationError as exc:
        raise Mismatch(str(exc), end) from None


def _u8(value: object, start: int, end: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expect("u8", value, start, end)
    if not 0 <= value <= 255:
        raise Mismatch(f"invalid value: integer `{value}`, expected u8", end)
    return value


def _bytes(data: bytes, value: object, start: int, end: int) -> bytes:
    """`Bytes`: a JSON array of u8, or a string (its UTF-8)."""
    if isinstance(value, str):
        return value.encode()
    if not isinstance(value, list):
        raise _expect("byte array", value, start, end)
    inner = scan(data[start:end])
    out = bytearray()
    for index, (item, item_start, item_end) in enumerate(inner.elements):
        try:
            out.append(_u8(item, start + item_start, start + item_end))
        except Mismatch as exc:
            raise Mismatch(exc.message, exc.offset, f"[{index}]") from None
    return bytes(out)


def byte_map(data: bytes, value: object, start: int, end: int) -> object:
    """A `{key: bytes}` map (the state of a key); a repeated key keeps its last value."""
    if not isinstance(value, dict):
        raise _expect("a map", value, start, end)
    inner = scan(data[start:end])
    result: dict[str, bytes] = {}
    for member in inner.members:
        try:
            result[member.key] = _bytes(data, member.value, start + member.value_start, start + member.value_end)
        except Mismatch as exc:
            raise Mismatch(exc.message, exc.offset, f".{member.key}{exc.path}") from None
    return result


def read_struct(body: bytes, struct: str, fields: list[Field]) -> dict[str, object]:
    """The fields' values (None for a missing Option); raises PlainError (400 syntax, 422 data) as axum does."""
    names = {f.name for f in fields}
    found = scan(body, ignored=lambda key: key not in names)
    try:
        values = _read(found, struct, fields)
    except Mismatch as exc:
        raise PlainError(422, f"{DESERIALIZE}{exc.path.lstrip('.')}{': ' if exc.path else ''}"
                         f"{exc.message} {byte_position(body, exc.offset)}") from None  # fmt: skip
    if found.error is not None:  # trailing characters, looked for once the struct is complete
        raise _syntax(found.error, fields)
    return values


def _syntax(error: JsonSyntaxError, fields: list[Field]) -> PlainError:
    declared = {f.name: f for f in fields}
    path = list(error.path)
    if error.at_key and len(path) == 1 and isinstance(path[0], str) and declared[path[0]].map_typed:
        path.append("?")  # serde_path_to_error: the key of a map that was not read yet
    shown = format_path(path)
    prefix = f"{shown}: " if shown else ""
    return PlainError(400, f"{PARSE}{prefix}{error.message} {byte_position(error.data, error.offset)}")


def _inner_syntax_error(found: Scan, fields: list[Field]) -> None:
    if found.error is not None and not found.trailing:
        raise _syntax(found.error, fields)


def _read(found: Scan, struct: str, fields: list[Field]) -> dict[str, object]:
    if found.kind == "object":
        return _from_members(found, struct, fields)
    if found.kind == "array":
        return _from_elements(found, struct, fields)
    _inner_syntax_error(found, fields)
    raise Mismatch(f"invalid type: {unexpected(found.value)}, expected struct {struct}", found.end)


def _convert(data: bytes, f: Field, value: object, start: int, end: int, path: str) -> object:
    if value is None and f.optional:
        return None
    try:
        return f.convert(data, value, start, end)
    except Mismatch as exc:
        raise Mismatch(exc.message, exc.offset, path + exc.path) from None


def _from_members(found: Scan, struct: str, fields: list[Field]) -> dict[str, object]:
    declared = {f.name: f for f in fields}
    values: dict[str, object] = {}
    for member in found.members:
        f = declared.get(member.key)
        if f is None:
            continue
        if f.name in values:
            raise Mismatch(f"duplicate field `{f.name}`", member.key_end)
        values[f.name] = _convert(found.data, f, member.value, member.value_start, member.value_end, f".{f.name}")
    _inner_syntax_error(found, fields)
    for f in fields:
        if f.name not in values:
            if not f.optional:
                raise Mismatch(f"missing field `{f.name}`", found.end)
            values[f.name] = None
    return values


def _from_elements(found: Scan, struct: str, fields: list[Field]) -> dict[str, object]:
    values: dict[str, object] = {}
    for index, f in enumerate(fields):
        if index < len(found.elements):
            value, start, end = found.elements[index]
            values[f.name] = _convert(found.data, f, value, start, end, f"[{index}]")
            continue
        _inner_syntax_error(found, fields)
        if not f.default:  # serde names the index of the first missing field
            count = len(fields)
            raise Mismatch(
                f"invalid length {index}, expected struct {struct} with {count} element{'s' if count != 1 else ''}",
                found.close + 1,
            )
        values[f.name] = None
    if len(found.elements) > len(fields):  # serde stops after the last field and wants the `]`
        _, start, _ = found.elements[len(fields)]
        raise PlainError(400, f"{PARSE}trailing characters {byte_position(found.data, start + 1)}")
    _inner_syntax_error(found, fields)
    return values
