"""restate.serde_json_errors: serde_json's syntax errors, each checked against restate-server 1.7.12.

The full parser's messages come from `POST /restate/lookup` bodies (a plain serde_json parse), the
skipper's from unknown members of `POST /query` bodies (serde_json's `ignore_value`).
"""

from __future__ import annotations

import pytest

from restate.serde_json_errors import format_path, loads, scan, unexpected

DEEP_OK = b"[" * 127 + b"]" * 127


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF while parsing a value at line 1 column 0"),
        (b"[", "EOF while parsing a list at line 1 column 1"),
        (b"[1,", "EOF while parsing a value at line 1 column 3"),
        (b"[1,]", "trailing comma at line 1 column 4"),
        (b"[1 2]", "expected `,` or `]` at line 1 column 4"),
        (b'{"a"', "EOF while parsing an object at line 1 column 4"),
        (b'{"a" 1}', "expected `:` at line 1 column 6"),
        (b'{"a":1,', "EOF while parsing a value at line 1 column 7"),
        (b'{"a":1,}', "trailing comma at line 1 column 8"),
        (b'{"a":1 "b":2}', "expected `,` or `}` at line 1 column 8"),
        (b"{bad", "key must be a string at line 1 column 2"),
        (b"-", "EOF while parsing a value at line 1 column 1"),
        (b"-x", "invalid number at line 1 column 2"),
        (b"01", "invalid number at line 1 column 2"),
        (b"1.x", "invalid number at line 1 column 3"),
        (b"1e+", "EOF while parsing a value at line 1 column 3"),
        (b"1e400", "number out of range at line 1 column 5"),
        (b"trux", "expected ident at line 1 column 4"),
        (b"nul", "EOF while parsing a value at line 1 column 3"),
        (b"NaN", "expected value at line 1 column 1"),
        (b"\xef\xbb\xbf{}", "expected value at line 1 column 1"),
        (b'"\x01"', "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 2"),
        (b'"a\nb"', "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0"),
        (b'"\\x"', "invalid escape at line 1 column 3"),
        (b'"\\u00zz"', "invalid escape at line 1 column 7"),
        (b'"\\u12', "EOF while parsing a string at line 1 column 5"),
        (b'"\\ud800"', "unexpected end of hex escape at line 1 column 8"),
        (b'"\\ud800x"', "unexpected end of hex escape at line 1 column 8"),
        (b'"\\ud800\\n"', "unexpected end of hex escape at line 1 column 9"),
        (b'"\\ud800\\', "EOF while parsing a string at line 1 column 8"),
        (b'"\\udc00"', "lone leading surrogate in hex escape at line 1 column 7"),
        (b'"\\ud800\\u0041"', "lone leading surrogate in hex escape at line 1 column 13"),
        (b'"\xc3"', "invalid unicode code point at line 1 column 3"),
        (b"[" * 128 + b"]" * 128, "recursion limit exceeded at line 1 column 128"),
        (b'{"a":' * 128 + b"1" + b"}" * 128, "recursion limit exceeded at line 1 column 636"),
        (b"1 x", "trailing characters at line 1 column 3"),
    ],
)
def test_syntax_errors(body: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        loads(body)
    assert str(caught.value) == message


def test_valid_documents() -> None:
    assert loads(b' {"a": [1, -2.5e1, true, false, null, "\\ud83d\\ude00\\n"]} ') == {
        "a": [1, -25.0, True, False, None, "\U0001f600\n"]
    }
    assert loads(b"123456789012345678901234567890") == 1.2345678901234568e29  # beyond 64 bits: a float
    assert loads(b"18446744073709551615") == 2**64 - 1 and loads(b"-9223372036854775808") == -(2**63)
    assert loads(DEEP_OK) is not None
    with pytest.raises(ValueError, match="number out of range at line 1 column 5000"):
        loads(b"1" * 5000)  # beyond f64 (and never through int(), which limits its digits)


def test_paths() -> None:
    found = scan(b'{"a":{"b":[1,2,]}}')
    assert found.error is not None and found.error.with_path() == "a.b: trailing comma at line 1 column 16"
    assert format_path(["new_state", "?"]) == "new_state.?" and format_path([0, 0, "k"]) == "[0][0].k"
    assert scan(b'{"a":{1:2}}').error.at_key  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "message"),
    [  # an unknown member skipped as serde skips it: checks and messages of its own
        (b'{"x":' + b"[" * 300 + b"]" * 300 + b"}", None),
        (b'{"x":1e400}', None),
        (b'{"x":"\\ud800"}', None),
        (b'{"x":"\xff"}', None),
        (b'{"x":[1,]}', "expected value at line 1 column 9"),
        (b'{"x":{"a":1,}}', "key must be a string at line 1 column 13"),
        (b'{"x":{"a":1,', "EOF while parsing an object at line 1 column 12"),
        (b'{"x":[1,', "EOF while parsing a value at line 1 column 8"),
        (b'{"x":"\x01"}', "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 6"),
        (b'{"x":"\\u00zz"}', "invalid escape at line 1 column 12"),
        (b'{"x":-}', "invalid number at line 1 column 7"),
    ],
)
def test_skipped_members(body: bytes, message: str | None) -> None:
    found = scan(body, ignored=lambda key: key == "x")
    assert (None if found.error is None else str(found.error)) == message


def test_unexpected_descriptions() -> None:
    values = [None, True, False, 3, 1.5, 1e29, "s", [], {}]
    assert [unexpected(v) for v in values] == [
        "null", "boolean `true`", "boolean `false`", "integer `3`", "floating point `1.5`",
        "floating point `1e+29`", 'string "s"', "sequence", "map",
    ]  # fmt: skip
