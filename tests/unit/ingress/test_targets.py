"""The JSON target body of /restate/attach|output|lookup: variants and serde_json's error messages.

Every expected message is what the real 1.7.12 server answered for the same body (its Rust backtrace aside).
"""

from __future__ import annotations

import pytest

from restate.ids import InvocationId
from restate.ingress.errors import IngressError
from restate.ingress.routing import ById, ByIdempotencyKey, ByWorkflow
from restate.ingress.targets import TargetBody, TargetBodyError, parse_target_body
from restate.serde_json_errors import unexpected

INV = "inv_1arJqkEd7c2K5D6QZl1EpZ9Swb2nQWoDR4"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"target":"workflow","workflowName":"Signup","workflowKey":"u1"}', TargetBody(ByWorkflow("Signup", "u1"))),
        (
            b'{"workflowKey":"u1","target":"workflow","workflowName":"Signup","scope":"s","extra":1}',
            TargetBody(ByWorkflow("Signup", "u1"), "s"),
        ),
        (
            b'{"target":"idempotentInvocation","service":"Greeter","handler":"greet","idempotencyKey":"i"}',
            TargetBody(ByIdempotencyKey("Greeter", None, "greet", "i")),
        ),
        (
            b'{"target":"idempotentInvocation","service":"C","key":"","handler":"add","idempotencyKey":"i","scope":null}',
            TargetBody(ByIdempotencyKey("C", "", "add", "i")),
        ),
        (f'{{"target":"invocation","invocationId":"{INV}"}}'.encode(), TargetBody(ById(InvocationId.parse(INV)))),
        (
            b' \n{ "target" : "workflow" ,\n "workflowName" : "W", "workflowKey" : "k" } ',
            TargetBody(ByWorkflow("W", "k")),
        ),
        # the sequence form: the tag, then the fields in declaration order (scope first)
        (b'["workflow",null,"W","k"]', TargetBody(ByWorkflow("W", "k"))),
        (b'["idempotentInvocation","s","C","k","add","i"]', TargetBody(ByIdempotencyKey("C", "k", "add", "i"), "s")),
        (f'["invocation","{INV}"]'.encode(), TargetBody(ById(InvocationId.parse(INV)))),
        (
            b'{"target":"workflow","workflowName":"\\ud83d\\ude00","workflowKey":"k"}',
            TargetBody(ByWorkflow("\U0001f600", "k")),
        ),
    ],
)
def test_variants(body: bytes, expected: TargetBody) -> None:
    assert parse_target_body(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF while parsing a value at line 1 column 0"),
        (b"   ", "EOF while parsing a value at line 1 column 3"),
        (b"{bad", "key must be a string at line 1 column 2"),
        (b'{"target":"workflow"} x', "missing field `workflowName`"),  # the variant is read before the end
        (b'{"target":"workflow","workflowName":"W","workflowKey":"k"} x', "trailing characters at line 1 column 60"),
        (b"[1]", "invalid type: integer `1`, expected variant identifier at line 1 column 2"),
        (b"[]", "missing field `target` at line 1 column 2"),
        (b"[[1]]", "invalid type: sequence, expected variant identifier at line 1 column 1"),
        (
            b'"x"',
            'invalid type: string "x", expected internally tagged enum InvocationTargetRequest at line 1 column 3',
        ),
        (b"{}", "missing field `target` at line 1 column 2"),
        (b'{"target":5}', "invalid type: integer `5`, expected variant identifier at line 1 column 11"),
        (b'{"target":{}}', "invalid type: map, expected variant identifier at line 1 column 10"),
        (b'{"target":"workflow","target":1}', "duplicate field `target` at line 1 column 29"),
        (
            b'{\n"target":"nope"\n}',
            "unknown variant `nope`, expected one of `workflow`, `idempotentInvocation`, `invocation` "
            "at line 2 column 15",
        ),
        (  # the tag is checked as soon as it is read: before the syntax error further on
            b'{"target":"x","a":[1,',
            "unknown variant `x`, expected one of `workflow`, `idempotentInvocation`, `invocation` at line 1 column 13",
        ),
        (b'{"a":[1,,"target":"x"}', "expected value at line 1 column 9"),
        (b'{"target":"invocation"}', "missing field `invocationId`"),
        (b'{"target":"invocation","invocationId":7}', "invalid type: integer `7`, expected a string"),
        (
            b'{"target":"workflow","workflowName":"W","workflowKey":"k","scope":true}',
            "invalid type: boolean `true`, expected a string",
        ),
        (
            b'{"target":"workflow","workflowName":"W","workflowKey":"k","workflowKey":"k"}',
            "duplicate field `workflowKey`",
        ),
        (
            b'["workflow"]',
            "invalid length 1, expected struct variant InvocationTargetRequest::Workflow with 3 elements",
        ),
        (b'["invocation","inv_1",3]', "invalid length 2, expected 1 element in sequence"),
        (b'["workflow",1]', "invalid type: integer `1`, expected a string"),
        (b'"\\ud800"', "unexpected end of hex escape at line 1 column 8"),
        (b'"\\udc00"', "lone leading surrogate in hex escape at line 1 column 7"),
        (b'"\xc3"', "invalid unicode code point at line 1 column 3"),
        (b"1e400", "number out of range at line 1 column 5"),
    ],
)
def test_errors(body: bytes, message: str) -> None:
    with pytest.raises(TargetBodyError) as info:
        parse_target_body(body)
    assert str(info.value) == message


def test_bad_invocation_id_is_a_400() -> None:
    with pytest.raises(IngressError) as info:
        parse_target_body(b'{"target":"invocation","invocationId":"garbage"}')
    assert (info.value.status, info.value.message) == (400, "bad invocation id 'garbage': bad format")


def test_unexpected_descriptions() -> None:
    values = [None, True, False, 3, 1.5, "s", [], {}]
    assert [unexpected(v) for v in values] == [
        "null",
        "boolean `true`",
        "boolean `false`",
        "integer `3`",
        "floating point `1.5`",
        'string "s"',
        "sequence",
        "map",
    ]
