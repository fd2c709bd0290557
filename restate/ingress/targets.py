"""The JSON target body of `POST /restate/attach|output|lookup`, with serde_json-like error messages."""

from __future__ import annotations

import json
from dataclasses import dataclass

from restate.ingress import errors, routing
from restate.ingress.routing import ById, ByIdempotencyKey, ByWorkflow, InvocationQuery
from restate.serde_json_errors import position, skip_whitespace, syntax_message, unexpected

_VARIANTS = "`workflow`, `idempotentInvocation`, `invocation`"
_FIELDS = {
    "workflow": ("workflowName", "workflowKey"),
    "idempotentInvocation": ("service", "handler", "idempotencyKey"),
    "invocation": ("invocationId",),
}
_OPTIONAL = {"workflow": ("scope",), "idempotentInvocation": ("scope", "key"), "invocation": ()}


class TargetBodyError(ValueError):
    """The body does not deserialize; the message is serde_json's, with its `at line L column C`."""


@dataclass(frozen=True, slots=True)
class TargetBody:
    query: InvocationQuery
    scope: str | None = None


def _syntax_error(text: str, exc: json.JSONDecodeError) -> TargetBodyError:
    return TargetBodyError(syntax_message(text, exc))


def _members(text: str) -> tuple[list[tuple[str, object, int]], int]:
    """The top-level object's (key, value, end offset) members and the offset after its `}`."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    pos += 1  # the `{`
    members: list[tuple[str, object, int]] = []
    while True:
        pos = skip_whitespace(text, pos)
        if text[pos] == "}":
            return members, pos + 1
        if text[pos] == ",":
            pos = skip_whitespace(text, pos + 1)
        key, pos = decoder.raw_decode(text, pos)
        pos = skip_whitespace(text, pos)
        value, pos = decoder.raw_decode(text, skip_whitespace(text, pos + 1))  # after the `:`
        members.append((key, value, pos))


def parse_target_body(body: bytes) -> TargetBody:
    """Decodes the internally tagged `InvocationTargetRequest` (tag `target`, camelCase fields)."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _syntax_error(text, exc) from None
    if not isinstance(doc, dict):
        end = len(text.rstrip())
        raise TargetBodyError(
            f"invalid type: {unexpected(doc)}, expected internally tagged enum InvocationTargetRequest "
            f"{position(text, end)}"
        )
    members, end = _members(text)
    variant = None
    for key, value, value_end in members:
        if key == "target":  # the tag is checked as soon as it is read
            if not isinstance(value, str):
                raise TargetBodyError(
                    f"invalid type: {unexpected(value)}, expected variant identifier {position(text, value_end)}"
                )
            if value not in _FIELDS:
                raise TargetBodyError(
                    f"unknown variant `{value}`, expected one of {_VARIANTS} {position(text, value_end)}"
                )
            variant = variant or value
    if variant is None:
        raise TargetBodyError(f"missing field `target` {position(text, end)}")
    fields: dict[str, str | None] = {}
    for name in _FIELDS[variant] + _OPTIONAL[variant]:
        value = doc.get(name)
        if name not in doc or (value is None and name in _OPTIONAL[variant]):
            if name not in _OPTIONAL[variant]:
                raise TargetBodyError(f"missing field `{name}` {position(text, end)}")
            fields[name] = None
        elif not isinstance(value, str):
            raise TargetBodyError(f"invalid type: {unexpected(value)}, expected a string {position(text, end)}")
        else:
            fields[name] = value
    return _to_query(variant, fields)


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
