"""Invocation protocol content types and version negotiation."""

from __future__ import annotations

import pytest

from restate.protocol import SUPPORTED_VERSIONS, content_type, negotiate, parse_content_type


def test_content_type() -> None:
    assert content_type(6) == "application/vnd.restate.invocation.v6"
    assert list(SUPPORTED_VERSIONS) == [5, 6, 7]


@pytest.mark.parametrize(
    ("ct", "expected"),
    [
        ("application/vnd.restate.invocation.v5", 5),
        ("application/vnd.restate.invocation.v7", 7),
        ("application/vnd.restate.invocation.v8", 8),
        ("  application/vnd.restate.invocation.v6 ", 6),
        ("Application/VND.restate.invocation.V6", 6),
        ("application/vnd.restate.invocation.v12", 12),
        ("application/vnd.restate.invocation.v", None),
        ("application/vnd.restate.invocation.v0", None),
        ("application/vnd.restate.invocation.v06", None),
        ("application/vnd.restate.invocation.v6; charset=utf-8", None),
        ("application/vnd.restate.invocation.v6x", None),
        ("application/vnd.restate.endpointmanifest.v4+json", None),
        ("application/json", None),
        ("", None),
    ],
)
def test_parse_content_type(ct: str, expected: int | None) -> None:
    assert parse_content_type(ct) == expected


def test_round_trip() -> None:
    for v in SUPPORTED_VERSIONS:
        assert parse_content_type(content_type(v)) == v


@pytest.mark.parametrize(
    ("min_v", "max_v", "server_max", "expected"),
    [
        (5, 7, 7, 7),  # SDK 1.3.0 with V7 enabled
        (5, 7, 6, 6),  # restate-server 1.7 default cap
        (1, 5, 7, 5),
        (1, 4, 7, None),  # old SDK only
        (8, 9, 7, None),  # future SDK only
        (6, 6, 7, 6),
        (5, 100, 7, 7),
        (7, 7, 6, None),
        (1, 2**31 - 1, 7, 7),
        (5, 7, 99, 7),  # never above what the codec speaks
    ],
)
def test_negotiate(min_v: int, max_v: int, server_max: int, expected: int | None) -> None:
    assert negotiate(min_v, max_v, server_max) == expected


def test_negotiate_default_server_max() -> None:
    assert negotiate(5, 7) == 7
