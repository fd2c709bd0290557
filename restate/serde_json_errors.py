"""serde_json-style error texts for JSON bodies (what the real server's Rust stack says), shared by the APIs."""

from __future__ import annotations

import json

_SYNTAX = {
    "Expecting value": "expected value",
    "Expecting property name enclosed in double quotes": "key must be a string",
    "Expecting ',' delimiter": "expected `,` or `}`",
    "Expecting ':' delimiter": "expected `:`",
    "Extra data": "trailing characters",
    "Unterminated string starting at": "EOF while parsing a string",
}


def position(text: str, offset: int) -> str:
    """serde_json's `at line L column C` for a character offset."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return f"at line {line} column {column}"


def unexpected(value: object) -> str:
    """serde's `Unexpected` description of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"


def syntax_message(text: str, exc: json.JSONDecodeError | None) -> str:
    """The message for a body that is not valid JSON (None: the body is empty)."""
    if exc is None or not text.strip():
        return f"EOF while parsing a value {position(text, len(text))}"
    message = _SYNTAX.get(exc.msg, exc.msg[:1].lower() + exc.msg[1:])
    if exc.pos >= len(text) and message != "trailing characters":
        message = "EOF while parsing a value"
    return f"{message} {position(text, exc.pos + 1)}"


def skip_whitespace(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n":
        pos += 1
    return pos
