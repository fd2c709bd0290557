"""The JSON target body of `POST /restate/attach|output|lookup`, decoded with serde_json's errors.

The real body is an internally tagged enum (`#[serde(tag = "target", rename_all = "camelCase")]`).
serde reads the tag while it streams the document (its errors carry a position), buffers the other
members, and only then deserializes the variant from that buffer (those errors carry none).
A JSON array is read as `[tag, fields...]`, the fields in declaration order.
"""

from __future__ import annotations

from dataclasses import dataclass

from restate.ingress import errors, routing
from restate.ingress.routing import ById, ByIdempotencyKey, ByWorkflow, InvocationQuery
from restate.serde_json_errors import Scan, byte_position, error_offset, scan, skip_whitespace, unexpected

_VARIANTS = "`workflow`, `idempotentInvocation`, `invocation`"
# Declaration order (what a JSON array maps to); the boolean says whether the field is an Option.
_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "workflow": (("scope", True), ("workflowName", False), ("workflowKey", False)),
    "idempotentInvocation": (
        ("scope", True), ("service", False), ("key", True), ("handler", False), ("idempotencyKey", False)),
    "invocation": (("invocationId", False),),
}  # fmt: skip
_RUST_NAMES = {"workflow": "Workflow", "idempotentInvocation": "IdempotentInvocation", "invocation": "Invocation"}


class TargetBodyError(ValueError):
    """The body does not deserialize; the message is serde_json's (with `at line L column C` when it has one)."""


@dataclass(frozen=True, slots=True)
class TargetBody:
    query: InvocationQuery
    scope: str | None = None


class _Positioned(Exception):
    """An error serde raises while reading the document: it races with syntax errors further on."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


def parse_target_body(body: bytes) -> TargetBody:
    """Decodes the body; raises TargetBodyError (serde's message) or IngressError (a bad invocation id)."""
    found = scan(body)
    try:
        variant, fields = _read(found)
    except _Positioned as exc:
        raise TargetBodyError(f"{exc.message} {byte_position(body, exc.offset)}") from None
    if found.error is not None:  # trailing characters: serde looks for them once the value is deserialized
        raise TargetBodyError(str(found.error))
    return _to_query(variant, fields)


def _read(found: Scan) -> tuple[str, dict[str, str | None]]:
    """The variant and its fields; positioned errors as _Positioned, the others as TargetBodyError."""
    if found.kind == "object":
        variant, rest = _tag_of_members(found)
        return variant, _fields_of_map(variant, rest)
    if found.kind == "array":
        variant = _tag_of_elements(found)
        return variant, _fields_of_sequence(variant, [value for value, _, _ in found.elements[1:]])
    _raise_inner_syntax_error(found)
    raise _Positioned(
        f"invalid type: {unexpected(found.value)}, expected internally tagged enum InvocationTargetRequest",
        found.end,
    )


def _raise_inner_syntax_error(found: Scan) -> None:
    """A syntax error inside the value comes before what serde checks once the value is read."""
    if found.error is not None and not found.trailing:
        raise _Positioned(found.error.message, found.error.offset)


def _variant(value: object, end: int) -> str:
    if not isinstance(value, str):
        raise _Positioned(f"invalid type: {unexpected(value)}, expected variant identifier", end)
    if value not in _FIELDS:
        raise _Positioned(f"unknown variant `{value}`, expected one of {_VARIANTS}", end)
    return value


def _tag_of_members(found: Scan) -> tuple[str, list[tuple[str, object]]]:
    variant: str | None = None
    rest: list[tuple[str, object]] = []
    for member in found.members:
        if member.key != "target":
            rest.append((member.key, member.value))
        elif variant is not None:
            raise _Positioned("duplicate field `target`", member.key_end)
        else:
            variant = _variant(member.value, error_offset(member.value, member.value_start, member.value_end))
    _raise_inner_syntax_error(found)  # the members after it were never read
    if variant is None:
        raise _Positioned("missing field `target`", found.end)
    return variant, rest


def _tag_of_elements(found: Scan) -> str:
    first = skip_whitespace(found.data, found.start + 1)
    if found.data[first : first + 1] in (b"[", b"{"):  # refused where it starts, before serde reads into it
        kind = "sequence" if found.data[first] == ord("[") else "map"
        raise _Positioned(f"invalid type: {kind}, expected variant identifier", first)
    if not found.elements:
        _raise_inner_syntax_error(found)
        raise _Positioned("missing field `target`", found.close + 1)
    value, start, end = found.elements[0]
    variant = _variant(value, error_offset(value, start, end))
    _raise_inner_syntax_error(found)
    return variant


def _string_field(value: object, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TargetBodyError(f"invalid type: {unexpected(value)}, expected a string")
    return value


def _fields_of_map(variant: str, members: list[tuple[str, object]]) -> dict[str, str | None]:
    declared = dict(_FIELDS[variant])
    fields: dict[str, str | None] = {}
    for key, value in members:  # document order; unknown members are ignored
        if key not in declared:
            continue
        if key in fields:
            raise TargetBodyError(f"duplicate field `{key}`")
        fields[key] = _string_field(value, declared[key])
    for name, optional in _FIELDS[variant]:
        if name not in fields:
            if not optional:
                raise TargetBodyError(f"missing field `{name}`")
            fields[name] = None
    return fields


def _fields_of_sequence(variant: str, values: list[object]) -> dict[str, str | None]:
    declared = _FIELDS[variant]
    fields: dict[str, str | None] = {}
    for index, (name, optional) in enumerate(declared):
        if index < len(values):
            fields[name] = _string_field(values[index], optional)
        elif optional:  # an Option field is `#[serde(default)]`: it may be left out
            fields[name] = None
        else:  # serde names the index of the first missing field
            count = len(declared)
            raise TargetBodyError(
                f"invalid length {index}, expected struct variant InvocationTargetRequest::{_RUST_NAMES[variant]} "
                f"with {count} element{'s' if count != 1 else ''}"
            )
    if len(values) > len(declared):
        count = len(declared)
        raise TargetBodyError(
            f"invalid length {len(values)}, expected {count} element{'s' if count != 1 else ''} in sequence"
        )
    return fields


def _to_query(variant: str, f: dict[str, str | None]) -> TargetBody:
    def text(name: str) -> str:
        value = f[name]
        assert value is not None
        return value

    if variant == "workflow":
        return TargetBody(ByWorkflow(text("workflowName"), text("workflowKey")), f["scope"])
    if variant == "idempotentInvocation":
        query = ByIdempotencyKey(text("service"), f["key"], text("handler"), text("idempotencyKey"))
        return TargetBody(query, f["scope"])
    return TargetBody(ById(routing.parse_invocation_id(text("invocationId"))))


def read_target_body(body: bytes, what: str) -> TargetBody:
    """Parses the body, turning serde errors into the real 500 `cannot read body: invalid <what> body: ...`."""
    try:
        return parse_target_body(body)
    except TargetBodyError as exc:
        raise errors.body_error(f"invalid {what} body: {exc}") from None
