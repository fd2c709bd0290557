"""Decoding a JSON object body field by field, with the rejections axum + serde_json give (400 / 422 text)."""

from __future__ import annotations

import json

from restate.admin.errors import PlainError
from restate.durations import DurationError, parse_duration_ns
from restate.serde_json_errors import position, skip_whitespace, syntax_message, unexpected

PARSE = "Failed to parse the request body as JSON: "
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "
_MISSING = object()


class JsonObject:
    """A decoded top-level JSON object that remembers where each member's value ends (for error positions)."""

    def __init__(self, body: bytes, struct: str) -> None:
        self.text = text = body.decode("utf-8", "replace")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _syntax_error(text, exc) from None
        if not isinstance(doc, dict):
            at = position(text, len(text.rstrip()))
            raise PlainError(422, f"{DESERIALIZE}invalid type: {unexpected(doc)}, expected struct {struct} {at}")
        self.members: dict[str, tuple[object, int]] = {}
        decoder = json.JSONDecoder()
        pos = skip_whitespace(text, 0) + 1  # the `{`
        while True:
            pos = skip_whitespace(text, pos)
            if text[pos] == "}":
                self.end = pos + 1
                return
            if text[pos] == ",":
                pos = skip_whitespace(text, pos + 1)
            key, pos = decoder.raw_decode(text, pos)
            value, pos = decoder.raw_decode(text, skip_whitespace(text, skip_whitespace(text, pos) + 1))
            self.members.setdefault(key, (value, pos))

    def error(self, field: str | None, message: str, end: int | None = None) -> PlainError:
        """A 422 for a member (positioned after its value) or for the whole object (after its `}`)."""
        prefix = f"{field}: " if field else ""
        return PlainError(
            422, f"{DESERIALIZE}{prefix}{message} {position(self.text, self.end if end is None else end)}"
        )

    def _get(self, name: str) -> tuple[object, int]:
        return self.members.get(name, (_MISSING, self.end))

    def _wrong_type(self, name: str, value: object, end: int, expected: str) -> PlainError:
        return self.error(name, f"invalid type: {unexpected(value)}, expected {expected}", end)

    def optional_bool(self, name: str) -> bool | None:
        value, end = self._get(name)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, bool):
            raise self._wrong_type(name, value, end, "a boolean")
        return value

    def optional_str(self, name: str) -> str | None:
        value, end = self._get(name)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong_type(name, value, end, "a string")
        return value

    def required_str(self, name: str) -> str:
        if name not in self.members:
            raise self.error(None, f"missing field `{name}`")
        value = self.optional_str(name)
        if value is None:
            raise self._wrong_type(name, None, self.members[name][1], "a string")
        return value

    def optional_duration_ms(self, name: str) -> int | None:
        """A friendly ("2h", "5 minutes") or ISO-8601 ("PT2M") duration, in milliseconds."""
        text = self.optional_str(name)
        if text is None:
            return None
        try:
            return parse_duration_ns(text) // 1_000_000
        except DurationError as exc:
            raise self.error(name, str(exc), self.members[name][1]) from None

    def required_byte_map(self, name: str) -> dict[str, bytes]:
        """A `{key: [byte, ...]}` map (serde's `HashMap<String, Vec<u8>>`)."""
        if name not in self.members:
            raise self.error(None, f"missing field `{name}`")
        value, end = self.members[name]
        if not isinstance(value, dict):
            raise self._wrong_type(name, value, end, "a map")
        result: dict[str, bytes] = {}
        for key, items in value.items():
            if not isinstance(items, list):
                raise self._wrong_type(f"{name}.{key}", items, end, "a sequence")
            for i, item in enumerate(items):
                if isinstance(item, bool) or not isinstance(item, int):
                    raise self._wrong_type(f"{name}.{key}[{i}]", item, end, "u8")
                if not 0 <= item <= 255:
                    raise self.error(f"{name}.{key}[{i}]", f"invalid value: integer `{item}`, expected u8", end)
            result[key] = bytes(items)
        return result


def _syntax_error(text: str, exc: json.JSONDecodeError) -> PlainError:
    return PlainError(400, f"{PARSE}{syntax_message(text, exc)}")
