"""The `?delay=` grammar: jiff's friendly and ISO-8601 spans, plus bare milliseconds."""

from __future__ import annotations

import pytest

from restate.durations import DurationError, parse_duration_ns

MS = 1_000_000
S = 1000 * MS

FRIENDLY = 'failed to parse input in the "friendly" duration format: '


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("500ms", 500 * MS),
        ("2s", 2 * S),
        ("1h", 3600 * S),
        ("60 sec", 60 * S),
        ("60sec", 60 * S),
        ("60000ms", 60 * S),
        ("1h 30m", 5400 * S),
        ("1h30m", 5400 * S),
        ("2 days, 3 hours", (2 * 24 + 3) * 3600 * S),
        ("1w", 7 * 24 * 3600 * S),
        ("1.5h", 5400 * S),
        ("0.5s", 500 * MS),
        ("1500us", 1500 * 1000),
        ("10ns", 10),
        ("01:02:03", 3723 * S),
        ("1d 01:00:00.5", 25 * 3600 * S + 500 * MS),
        ("+2s", 2 * S),
        ("0s", 0),
        ("0", 0),
        ("PT1S", S),
        ("PT0.5S", 500 * MS),
        ("pt1m", 60 * S),
        ("P1DT2H", 26 * 3600 * S),
        ("P1W", 7 * 24 * 3600 * S),
        ("PT1H30M", 5400 * S),
        ("1000", 1000 * MS),
        ("250", 250 * MS),
    ],
)
def test_parses(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "bogus",
            FRIENDLY + "expected duration to start with a unit value (a decimal integer) after an optional sign, "
            "but no integer was found",
        ),
        ("2x", FRIENDLY + "expected to find unit designator suffix (e.g., `years` or `secs`) after parsing integer"),
        (
            "2s x",
            FRIENDLY + "parsed value 'PT2S', but unparsed input \"x\" remains (expected no unparsed input)",
        ),
        (
            "1s 2h",
            FRIENDLY + "found value with unit hour after unit second, but units must be written from largest "
            "to smallest (and they can't be repeated)",
        ),
        ("1.5d", FRIENDLY + "fractional days are not supported"),
        ("1d,", FRIENDLY + "expected whitespace after comma, but found end of input"),
        ("1y", "please use units of days or smaller"),
        ("P1M", "please use units of days or smaller"),
        ("", 'an empty string is not a valid duration in either the ISO 8601 format or Jiff\'s "friendly" format'),
        (
            "PT",
            "found a time designator (`T` or `t`) in an ISO 8601 duration string, but did not find any time units",
        ),
        ("P1H", "expected to find date unit designator suffix (`Y`, `M`, `W` or `D`), but found `H` instead"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration_ns(text)
    assert str(info.value) == message


@pytest.mark.parametrize("text", ["-2s", "2s ago", "-PT1S"])
def test_negative_durations_are_rejected(text: str) -> None:
    with pytest.raises(DurationError, match="negative"):
        parse_duration_ns(text)
