"""A JSON reader that fails as serde_json does (same messages, same `at line L column C`), shared by the APIs.

The real server parses request bodies with serde_json, which is stricter than Python's `json`
(no NaN, no lone surrogates, at most 127 nested containers, invalid UTF-8 refused) and reports
each error with its position. `scan` reads a whole body the same way and returns what it read up
to the first error, so callers can also order their own (type) errors by position as serde does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_DEPTH = 127  # serde_json's recursion limit: the 128th nested container is refused
_WS = re.compile(rb"[ \t\n\r]*")
_DIGITS = re.compile(rb"[0-9]*")
# A string literal without surrogate escapes, control characters or bad escapes: the fast path.
_SIMPLE_STRING = re.compile(rb'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4})*"')
_PLAIN_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_HEX = frozenset(b"0123456789abcdefABCDEF")
_IDENTS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_VALUES = {b"true": True, b"false": False, b"null": None}
_I64_MIN, _U64_MAX = -(1 << 63), (1 << 64) - 1

Path = list[str | int]


class JsonSyntaxError(ValueError):
    """Where serde_json stops: `offset` is its position (bytes read), `path` where in the document.

    `at_key`: it stopped looking for an object's next key (serde_path_to_error shows a map's as `?`)."""

    def __init__(self, data: bytes, message: str, offset: int, path: Path | None = None, at_key: bool = False) -> None:
        self.data, self.message, self.offset, self.path = data, message, offset, list(path or [])
        self.at_key = at_key
        super().__init__(f"{message} {byte_position(data, offset)}")

    def with_path(self) -> str:
        """The message as serde_path_to_error prefixes it (`new_state.a: trailing comma at ...`)."""
        shown = format_path(self.path)
        return f"{shown}: {self}" if shown else str(self)


@dataclass
class Member:
    """A member of the top-level object: `value_start`/`value_end` are byte offsets."""

    key: str
    key_end: int
    value: object
    value_start: int
    value_end: int


@dataclass
class Scan:
    """What `scan` read: the top-level value's members or elements that were complete before `error`.

    `value` is set only when the whole top-level value was read (trailing characters aside);
    `close` is the offset of the top-level container's closing bracket (where serde peeks at it).
    """

    data: bytes
    kind: str = ""  # "object", "array" or "scalar"; "" when not even its first byte was valid
    value: object = None
    complete: bool = False
    start: int = 0
    end: int = 0
    close: int = 0
    members: list[Member] = field(default_factory=list)
    elements: list[tuple[object, int, int]] = field(default_factory=list)
    error: JsonSyntaxError | None = None

    @property
    def trailing(self) -> bool:
        """The only error is what follows a complete value (serde checks it after deserializing)."""
        return self.complete and self.error is not None


def byte_position(data: bytes, offset: int) -> str:
    """serde_json's `at line L column C` for a byte offset (the number of bytes it had read)."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1)
    return f"at line {line} column {column}"


def position(text: str, offset: int) -> str:
    """The same for a character offset into decoded text."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return f"at line {line} column {column}"


def skip_whitespace(data: bytes, i: int) -> int:
    """The offset of the first byte at or after `i` that is not JSON whitespace."""
    match = _WS.match(data, i)
    assert match is not None
    return match.end()


def format_path(path: Path) -> str:
    """serde_path_to_error's path: `a.b[0].c`; `?` for a map key not read yet."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def unexpected(value: object) -> str:
    """serde's `Unexpected` description of a JSON value (integers beyond 64 bits are floats to serde)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"


def error_offset(value: object, start: int, end: int) -> int:
    """Where serde reports a value of the wrong type: after a scalar, before a container."""
    return start if isinstance(value, (list, dict)) else end


def scan(data: bytes, ignored: Callable[[str], bool] | None = None) -> Scan:
    """Reads `data` as serde_json does; never raises (the first error is in `.error`).

    The values of the top-level members `ignored` names are skipped as serde skips a struct's unknown
    members (`ignore_value`: no depth limit, no UTF-8, surrogate or range checks, its own messages)."""
    return _Reader(data, ignored).top()


def loads(data: bytes) -> object:
    """The decoded document, or JsonSyntaxError with serde's message (trailing characters included)."""
    found = scan(data)
    if found.error is not None:
        raise found.error
    return found.value


class _Reader:
    """Recursive descent over bytes; containers nest at most MAX_DEPTH deep (Python's stack stays small)."""

    def __init__(self, data: bytes, ignored: Callable[[str], bool] | None = None) -> None:
        self.data = data
        self.ignored = ignored
        self.path: Path = []

    def fail(self, message: str, offset: int, at_key: bool = False) -> JsonSyntaxError:
        return JsonSyntaxError(self.data, message, offset, self.path, at_key)

    def ws(self, i: int) -> int:
        return skip_whitespace(self.data, i)

    def top(self) -> Scan:
        data = self.data
        result = Scan(data)
        i = self.ws(0)
        result.start = i
        try:
            if i < len(data) and data[i] == ord("{"):
                result.kind = "object"
                result.value, i = self.object(i, 1, result)
            elif i < len(data) and data[i] == ord("["):
                result.kind = "array"
                result.value, i = self.array(i, 1, result)
            else:
                result.value, i = self.value(i, 0)
                result.kind = "scalar"
        except JsonSyntaxError as exc:
            result.error = exc
            return result
        result.complete, result.end = True, i
        i = self.ws(i)
        if i < len(data):
            self.path = []
            result.error = self.fail("trailing characters", i + 1)
        return result

    def value(self, i: int, depth: int) -> tuple[object, int]:
        data = self.data
        i = self.ws(i)
        if i >= len(data):
            raise self.fail("EOF while parsing a value", len(data))
        c = data[i]
        if c == ord('"'):
            return self.string(i)
        if c == ord("{"):
            return self.object(i, depth + 1, None)
        if c == ord("["):
            return self.array(i, depth + 1, None)
        if c == ord("-") or ord("0") <= c <= ord("9"):
            return self.number(i)
        if c in _IDENTS:
            return self.ident(i, _IDENTS[c])
        raise self.fail("expected value", i + 1)

    def ident(self, i: int, word: bytes) -> tuple[object, int]:
        data = self.data
        for j in range(1, len(word)):
            if i + j >= len(data):
                raise self.fail("EOF while parsing a value", len(data))
            if data[i + j] != word[j]:
                raise self.fail("expected ident", i + j + 1)
        return _VALUES[word], i + len(word)

    def digits(self, i: int) -> int:
        """After at least one digit; EOF or a non-digit there is the caller's error."""
        data = self.data
        if i >= len(data):
            raise self.fail("EOF while parsing a value", len(data))
        if not ord("0") <= data[i] <= ord("9"):
            raise self.fail("invalid number", i + 1)
        match = _DIGITS.match(data, i)
        assert match is not None
        return match.end()

    def number(self, start: int) -> tuple[object, int]:
        data = self.data
        i = start + 1 if data[start] == ord("-") else start
        if i < len(data) and data[i] == ord("0"):
            i += 1
            if i < len(data) and ord("0") <= data[i] <= ord("9"):
                raise self.fail("invalid number", i + 1)
        else:
            i = self.digits(i)
        integral = True
        if i < len(data) and data[i] == ord("."):
            i, integral = self.digits(i + 1), False
        if i < len(data) and data[i] in b"eE":
            i += 1
            if i < len(data) and data[i] in b"+-":
                i += 1
            i, integral = self.digits(i), False
        text = data[start:i]
        if integral and i - start <= 20:  # longer ones are beyond 64 bits anyway (and int() limits digits)
            number = int(text)
            if _I64_MIN <= number <= _U64_MAX:
                return number, i
        value = float(text)
        if math.isinf(value):
            raise self.fail("number out of range", i)
        return value, i

    def string(self, i: int) -> tuple[str, int]:
        match = _SIMPLE_STRING.match(self.data, i)
        end = match.end() if match is not None else self.string_end(i + 1)
        raw = self.data[i:end]
        try:
            return json.loads(raw.decode("utf-8")), end
        except UnicodeDecodeError:
            raise self.fail("invalid unicode code point", end) from None

    def string_end(self, i: int) -> int:
        """The slow path: finds serde's error in the literal, or where a literal with surrogate pairs ends."""
        data = self.data
        while i < len(data):
            c = data[i]
            if c == ord('"'):
                return i + 1
            if c < 0x20:
                raise self.fail("control character (\\u0000-\\u001F) found while parsing a string", i + 1)
            i = self.escape(i + 1) if c == ord("\\") else i + 1
        raise self.fail("EOF while parsing a string", len(data))

    def escape(self, i: int) -> int:
        data = self.data
        if i >= len(data):
            raise self.fail("EOF while parsing a string", len(data))
        if data[i] in b'"\\/bfnrt':
            return i + 1
        if data[i] != ord("u"):
            raise self.fail("invalid escape", i + 1)
        unit, i = self.hex4(i + 1)
        if 0xDC00 <= unit <= 0xDFFF:
            raise self.fail("lone leading surrogate in hex escape", i)
        if not 0xD800 <= unit <= 0xDBFF:
            return i
        for expected in b"\\u":  # a high surrogate must be followed by `\u` and a low one
            if i >= len(data):
                raise self.fail("EOF while parsing a string", len(data))
            if data[i] != expected:
                raise self.fail("unexpected end of hex escape", i + 1)
            i += 1
        unit, i = self.hex4(i)
        if not 0xDC00 <= unit <= 0xDFFF:
            raise self.fail("lone leading surrogate in hex escape", i)
        return i

    def hex4(self, i: int) -> tuple[int, int]:
        data = self.data
        if i + 4 > len(data):
            raise self.fail("EOF while parsing a string", len(data))
        digits = data[i : i + 4]
        if any(b not in _HEX for b in digits):
            raise self.fail("invalid escape", i + 4)
        return int(digits, 16), i + 4

    def enter(self, i: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.fail("recursion limit exceeded", i + 1)

    def array(self, i: int, depth: int, top: Scan | None) -> tuple[list[object], int]:
        data = self.data
        self.enter(i, depth)
        items: list[object] = []
        i = self.ws(i + 1)
        while True:
            if i >= len(data):
                raise self.fail("EOF while parsing a list" if not items else "EOF while parsing a value", len(data))
            if data[i] == ord("]"):
                if items:  # `]` right after a comma
                    raise self.fail("trailing comma", i + 1)
                break
            self.path.append(len(items))
            start = self.ws(i)
            value, i = self.value(i, depth)
            self.path.pop()
            items.append(value)
            if top is not None:
                top.elements.append((value, start, i))
            i = self.ws(i)
            if i >= len(data):
                raise self.fail("EOF while parsing a list", len(data))
            if data[i] == ord("]"):
                break
            if data[i] != ord(","):
                raise self.fail("expected `,` or `]`", i + 1)
            i = self.ws(i + 1)
        if top is not None:
            top.close = i
        return items, i + 1

    def object(self, i: int, depth: int, top: Scan | None) -> tuple[dict[str, object], int]:
        data = self.data
        self.enter(i, depth)
        members: dict[str, object] = {}
        i = self.ws(i + 1)
        closed = i < len(data) and data[i] == ord("}")
        count = 0  # members read (a repeated key counts again)
        while not closed:
            key, key_end, i = self.member_key(i, first=count == 0)
            count += 1
            self.path.append(key)
            start = self.ws(i)
            if top is not None and self.ignored is not None and self.ignored(key):
                value, i = None, self.skip(start)
            else:
                value, i = self.value(i, depth)
            self.path.pop()
            members[key] = value
            if top is not None:
                top.members.append(Member(key, key_end, value, start, i))
            i, closed = self.after_member(i)
        if top is not None:
            top.close = i
        return members, i + 1

    def member_key(self, i: int, first: bool) -> tuple[str, int, int]:
        """Reads `"key":` (the first one, or one after a comma); returns the key, its end, the offset after `:`."""
        data = self.data
        if i >= len(data):
            raise self.fail("EOF while parsing an object" if first else "EOF while parsing a value", len(data), True)
        if data[i] == ord("}"):
            raise self.fail("trailing comma", i + 1, at_key=True)
        if data[i] != ord('"'):
            raise self.fail("key must be a string", i + 1, at_key=True)
        key, key_end = self.key(i)
        i = self.ws(key_end)
        if i >= len(data):
            raise self.fail("EOF while parsing an object", len(data))
        if data[i] != ord(":"):
            raise self.fail("expected `:`", i + 1)
        return key, key_end, i + 1

    def after_member(self, i: int) -> tuple[int, bool]:
        """After a member's value: the offset of the next key (False) or of the closing `}` (True)."""
        data = self.data
        i = self.ws(i)
        if i >= len(data):
            raise self.fail("EOF while parsing an object", len(data), at_key=True)
        if data[i] == ord("}"):
            return i, True
        if data[i] != ord(","):
            raise self.fail("expected `,` or `}`", i + 1, at_key=True)
        return self.ws(i + 1), False

    def key(self, i: int) -> tuple[str, int]:
        try:
            return self.string(i)
        except JsonSyntaxError as exc:
            exc.at_key = True
            raise

    # --- serde_json's `ignore_value`: iterative, so any depth is fine ------------------------------------------

    def skip(self, i: int) -> int:
        """The offset after the value at `i`, checked as serde_json checks what it skips."""
        data = self.data
        enclosing: list[int] = []
        while True:
            i = self.skip_scalar_or_open(i, enclosing)
            while enclosing:  # after a value: close containers, or find the next value
                i = self.ws(i)
                if i >= len(data):
                    raise self.fail(
                        "EOF while parsing a list" if enclosing[-1] == ord("[") else "EOF while parsing an object",
                        len(data),
                    )
                closer = ord("]") if enclosing[-1] == ord("[") else ord("}")
                if data[i] == closer:
                    enclosing.pop()
                    i += 1
                    continue
                if data[i] != ord(","):
                    raise self.fail("expected `,` or `]`" if closer == ord("]") else "expected `,` or `}`", i + 1)
                i = self.ws(i + 1)
                if closer == ord("}"):
                    i = self.skip_key(i)
                break
            else:
                return i

    def skip_scalar_or_open(self, i: int, enclosing: list[int]) -> int:
        """Skips a scalar, or opens containers (and their first key) up to the next value to skip."""
        data = self.data
        while True:
            i = self.ws(i)
            if i >= len(data):
                raise self.fail("EOF while parsing a value", len(data))
            c = data[i]
            if c == ord('"'):
                return self.skip_string(i + 1)
            if c == ord("-") or ord("0") <= c <= ord("9"):
                return self.skip_number(i)
            if c in _IDENTS:
                return self.ident(i, _IDENTS[c])[1]
            if c not in b"[{":
                raise self.fail("expected value", i + 1)
            j = self.ws(i + 1)
            if j < len(data) and data[j] == (ord("]") if c == ord("[") else ord("}")):
                return j + 1  # an empty container is a complete value
            enclosing.append(c)
            i = self.skip_key(j) if c == ord("{") else j

    def skip_key(self, i: int) -> int:
        """At an object's next key: skips it and the colon."""
        data = self.data
        if i >= len(data):
            raise self.fail("EOF while parsing an object", len(data))
        if data[i] != ord('"'):
            raise self.fail("key must be a string", i + 1)
        i = self.ws(self.skip_string(i + 1))
        if i >= len(data):
            raise self.fail("EOF while parsing an object", len(data))
        if data[i] != ord(":"):
            raise self.fail("expected `:`", i + 1)
        return i + 1

    def skip_string(self, i: int) -> int:
        """After the opening quote: escapes and control characters are checked, code points are not."""
        data = self.data
        while True:
            match = _PLAIN_RUN.match(data, i)
            assert match is not None
            i = match.end()
            if i >= len(data):
                raise self.fail("EOF while parsing a string", len(data))
            if data[i] == ord('"'):
                return i + 1
            if data[i] != ord("\\"):  # unlike the parser, the skipper reports it before the character
                raise self.fail("control character (\\u0000-\\u001F) found while parsing a string", i)
            i += 1
            if i >= len(data):
                raise self.fail("EOF while parsing a string", len(data))
            if data[i] == ord("u"):
                i = self.hex4(i + 1)[1]
            elif data[i] in b'"\\/bfnrt':
                i += 1
            else:
                raise self.fail("invalid escape", i + 1)

    def skip_number(self, start: int) -> int:
        """The number grammar without the range check."""
        data = self.data
        i = start + 1 if data[start] == ord("-") else start
        if i < len(data) and data[i] == ord("0"):
            i += 1
            if i < len(data) and ord("0") <= data[i] <= ord("9"):
                raise self.fail("invalid number", i + 1)
        else:
            i = self.digits(i)
        if i < len(data) and data[i] == ord("."):
            i = self.digits(i + 1)
        if i < len(data) and data[i] in b"eE":
            i += 1
            if i < len(data) and data[i] in b"+-":
                i += 1
            i = self.digits(i)
        return i
