"""Duration parsing in the forms the real server accepts: friendly ("500ms", "2s", "1h") and ISO-8601 ("PT1S")."""

from __future__ import annotations

_NS = {
    "week": 7 * 86_400 * 10**9,
    "day": 86_400 * 10**9,
    "hour": 3_600 * 10**9,
    "minute": 60 * 10**9,
    "second": 10**9,
    "millisecond": 10**6,
    "microsecond": 10**3,
    "nanosecond": 1,
}
# Largest first: a unit may only follow a larger one (jiff's rule).
_ORDER = ["year", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond", "nanosecond"]
_RANK = {u: i for i, u in enumerate(_ORDER)}
_PLURAL = {u: u + "s" for u in _ORDER}

# jiff's unit designators (fmt/friendly/parser_label.rs); matched longest first.
_LABELS = sorted(
    [
        *(("years", "year"), ("year", "year"), ("yrs", "year"), ("yr", "year"), ("y", "year")),
        *(("months", "month"), ("month", "month"), ("mos", "month"), ("mo", "month")),
        *(("weeks", "week"), ("week", "week"), ("wks", "week"), ("wk", "week"), ("w", "week")),
        *(("days", "day"), ("day", "day"), ("d", "day")),
        *(("hours", "hour"), ("hour", "hour"), ("hrs", "hour"), ("hr", "hour"), ("h", "hour")),
        *(("minutes", "minute"), ("minute", "minute"), ("mins", "minute"), ("min", "minute"), ("m", "minute")),
        *(("seconds", "second"), ("second", "second"), ("secs", "second"), ("sec", "second"), ("s", "second")),
        *(("milliseconds", "millisecond"), ("millisecond", "millisecond"), ("millis", "millisecond")),
        *(("milli", "millisecond"), ("msecs", "millisecond"), ("msec", "millisecond"), ("ms", "millisecond")),
        *(("microseconds", "microsecond"), ("microsecond", "microsecond"), ("micros", "microsecond")),
        *(("micro", "microsecond"), ("usecs", "microsecond"), ("usec", "microsecond"), ("us", "microsecond")),
        *(("µsecs", "microsecond"), ("µsec", "microsecond"), ("µs", "microsecond")),
        *(("nanoseconds", "nanosecond"), ("nanosecond", "nanosecond"), ("nanos", "nanosecond")),
        *(("nano", "nanosecond"), ("nsecs", "nanosecond"), ("nsec", "nanosecond"), ("ns", "nanosecond")),
    ],
    key=lambda pair: -len(pair[0]),
)

_FRIENDLY = 'failed to parse input in the "friendly" duration format: '
_U64_MAX, _I64_MAX = 2**64 - 1, 2**63 - 1
# jiff's span limits per unit (`Span` ranges). The real server answers an error beyond those of years to
# days, and panics beyond those of hours to seconds: both are refused here with jiff's message.
_SPAN_LIMIT = {
    "year": 19_998, "month": 239_976, "week": 1_043_497, "day": 7_304_484,
    "hour": 175_307_616, "minute": 10_518_456_960, "second": 631_107_417_600,
}  # fmt: skip
_WS = " \t\n\r\x0b\x0c"


class DurationError(ValueError):
    """The duration does not parse; the message is the one the real server gives (after its prefix)."""


def parse_duration_ns(text: str) -> int:
    """Parses a delay into nanoseconds.

    Accepts jiff's friendly format (`500ms`, `2s`, `1h 30m`, `1.5h`, `01:02:03`) and ISO-8601
    (`PT1S`, `P1DT2H`), as Restate's `FriendlyDuration` does, plus a bare integer number of
    milliseconds (what the official Python client sends; the real server rejects it).
    """
    if text.isascii() and text.isdigit():
        millis = int(text)
        if millis > _I64_MAX:
            raise DurationError("value for milliseconds is too big (or small) to fit into a signed 64-bit integer")
        return millis * 10**6
    if not text:
        raise DurationError(
            'an empty string is not a valid duration in either the ISO 8601 format or Jiff\'s "friendly" format'
        )
    first = text[0]
    if first in "+-":
        if len(text) == 1:
            raise DurationError(
                f"found nothing after sign `{first}`, which is not a valid duration in either "
                'the ISO 8601 format or Jiff\'s "friendly" format'
            )
        first = text[1]
    units, negative = _parse_iso(text) if first in "Pp" else _parse_friendly(text)
    if units.get("year") or units.get("month"):
        raise DurationError("please use units of days or smaller")
    total = sum(_NS[u] * v for u, v in units.items() if u in _NS)
    if negative and total:
        raise DurationError(f"cannot convert negative duration `-{_iso(units)}` to unsigned `std::time::Duration`")
    return total


class _Cursor:
    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def integer(self) -> int | None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        if self.pos == start:
            return None
        digits = self.text[start : self.pos].lstrip("0")
        if len(digits) > 20 or int(digits or "0") > _U64_MAX:
            raise DurationError("number too big to parse into 64-bit integer")
        return int(digits or "0")

    def fraction(self) -> int | None:
        """After a `.`/`,`: up to 9 digits, returned as nanoseconds of the unit's fraction."""
        self.pos += 1
        start = self.pos
        digits = self.integer()
        if digits is None:
            raise DurationError("found decimal after seconds component, but did not find any digits after decimal")
        count = self.pos - start
        if count > 9:
            raise DurationError(
                "failed to parse fractional component (up to 9 digits, nanosecond precision is allowed)"
            )
        return digits * 10 ** (9 - count)

    def whitespace(self) -> None:
        while self.peek() and self.peek() in _WS:
            self.pos += 1

    def rest(self) -> str:
        return self.text[self.pos :]


def _set(units: dict[str, int], unit: str, value: int, previous: str | None) -> None:
    if previous is not None and _RANK[unit] <= _RANK[previous]:
        raise DurationError(
            f"found value with unit {unit} after unit {previous}, but units must be written "
            "from largest to smallest (and they can't be repeated)"
        )
    _check_range(unit, value)
    units[unit] = value


def _check_range(unit: str, value: int) -> None:
    if value > _I64_MAX:
        raise DurationError(f"value for {_PLURAL[unit]} is too big (or small) to fit into a signed 64-bit integer")
    limit = _SPAN_LIMIT.get(unit)
    if limit is not None and value > limit:
        raise DurationError(
            f"failed to set value for {unit} unit on span: parameter '{_PLURAL[unit]}' is not in the required "
            f"range of -{limit}..={limit}"
        )


def _add_fraction(units: dict[str, int], unit: str, fraction_ns: int) -> None:
    if _RANK[unit] < _RANK["hour"]:
        raise DurationError(f"fractional {_PLURAL[unit]} are not supported")
    units["nanosecond"] = units.get("nanosecond", 0) + _NS[unit] * fraction_ns // 10**9


def _parse_friendly(text: str) -> tuple[dict[str, int], bool]:
    try:
        return _friendly(_Cursor(text))
    except DurationError as exc:
        raise DurationError(_FRIENDLY + str(exc)) from None


def _friendly(cur: _Cursor) -> tuple[dict[str, int], bool]:  # noqa: C901, PLR0912 - mirrors jiff's parser
    sign = cur.peek() if cur.peek() in "+-" else ""
    cur.pos += len(sign)
    value = cur.integer()
    if value is None:
        raise DurationError(
            "expected duration to start with a unit value (a decimal integer) after an optional sign, "
            "but no integer was found"
        )
    units: dict[str, int] = {}
    previous: str | None = None
    after_comma = True
    while True:
        if cur.peek() == ":":
            _hms(cur, units, value, previous)
            break
        fraction = cur.fraction() if cur.peek() in (".", ",") else None
        cur.whitespace()
        unit = _designator(cur)
        if cur.peek() == ",":
            cur.pos += 1
            nxt = cur.peek()
            if not nxt:
                raise DurationError("expected whitespace after comma, but found end of input")
            if nxt not in _WS:
                raise DurationError(f"expected whitespace after comma, but found `{nxt}`")
            after_comma = False
        _set(units, unit, value, previous)
        previous = unit
        if fraction is not None:
            _add_fraction(units, unit, fraction)
            break
        save = cur.pos
        cur.whitespace()
        nxt_value = cur.integer()
        if nxt_value is None:
            cur.pos = save
            break
        value = nxt_value
        after_comma = True
    if not after_comma:
        raise DurationError("found comma at the end of duration, but a comma indicates at least one more unit follows")
    negative = sign == "-"
    if cur.peek() and cur.peek() in _WS:
        cur.whitespace()
        if cur.rest().startswith("ago"):
            cur.pos += 3
            if sign:
                raise DurationError(
                    "expected to find either a prefix sign (+/-) or a suffix sign (`ago`), but found both"
                )
            negative = True
    _expect_end(cur, units, negative)
    return units, negative


def _designator(cur: _Cursor) -> str:
    rest = cur.rest()
    for label, unit in _LABELS:
        if rest.startswith(label):
            cur.pos += len(label)
            return unit
    raise DurationError("expected to find unit designator suffix (e.g., `years` or `secs`) after parsing integer")


def _hms(cur: _Cursor, units: dict[str, int], hour: int, previous: str | None) -> None:
    if previous is not None and _RANK[previous] >= _RANK["hour"]:
        raise DurationError(
            f"found `HH:MM:SS` after unit {previous}, but `HH:MM:SS` can only appear after years, months, weeks or days"
        )
    cur.pos += 1
    minute = cur.integer()
    if minute is None:
        raise DurationError("when parsing the `HH:MM:SS` format, expected to parse minute following hour")
    if cur.peek() != ":":
        raise DurationError("when parsing the `HH:MM:SS` format, expected to parse `:` following minute")
    cur.pos += 1
    second = cur.integer()
    if second is None:
        raise DurationError("when parsing the `HH:MM:SS` format, expected to parse second following minute")
    for unit, value in (("hour", hour), ("minute", minute), ("second", second)):
        _check_range(unit, value)
    units.update(hour=hour, minute=minute, second=second)
    if cur.peek() in (".", ","):
        units["nanosecond"] = cur.fraction() or 0


def _parse_iso(text: str) -> tuple[dict[str, int], bool]:  # noqa: C901, PLR0912 - one grammar
    cur = _Cursor(text)
    negative = cur.peek() == "-"
    if cur.peek() in "+-":
        cur.pos += 1
    cur.pos += 1  # the P
    units: dict[str, int] = {}
    previous: str | None = None
    date_units = {"Y": "year", "M": "month", "W": "week", "D": "day"}
    time_units = {"H": "hour", "M": "minute", "S": "second"}
    in_time = False
    saw_time_unit = False
    while cur.peek():
        if not in_time and cur.peek() in "Tt":
            cur.pos += 1
            in_time = True
            continue
        value = cur.integer()
        if value is None:
            break
        fraction = cur.fraction() if in_time and cur.peek() in (".", ",") else None
        table, kind = (time_units, "time") if in_time else (date_units, "date")
        found = cur.peek().upper()
        if found not in table:
            letters = "(`H`, `M` or `S`)" if in_time else "(`Y`, `M`, `W` or `D`)"
            where = f"found `{cur.peek()}` instead" if cur.peek() else "found end of input"
            raise DurationError(f"expected to find {kind} unit designator suffix {letters}, but {where}")
        cur.pos += 1
        unit = table[found]
        _set(units, unit, value, previous)
        previous = unit
        saw_time_unit = saw_time_unit or in_time
        if fraction is not None:
            _add_fraction(units, unit, fraction)
            break
    if in_time and not saw_time_unit:
        raise DurationError(
            "found a time designator (`T` or `t`) in an ISO 8601 duration string, but did not find any time units"
        )
    if not units:
        raise DurationError("no parsed duration components")
    _expect_end(cur, units, negative)
    return units, negative


def _expect_end(cur: _Cursor, units: dict[str, int], negative: bool) -> None:
    rest = cur.rest()
    if rest:
        shown = ("-" if negative else "") + _iso(units)
        escaped = rest.replace("\\", "\\\\").replace('"', '\\"')
        raise DurationError(
            f"parsed value '{shown}', but unparsed input \"{escaped}\" remains (expected no unparsed input)"
        )


def _iso(units: dict[str, int]) -> str:
    """A span printed the way jiff prints one (ISO-8601), for error messages."""
    date_units = (("year", "Y"), ("month", "M"), ("week", "W"), ("day", "D"))
    date = "".join(f"{units[u]}{d}" for u, d in date_units if units.get(u))
    sub_ns = units.get("millisecond", 0) * 10**6 + units.get("microsecond", 0) * 10**3 + units.get("nanosecond", 0)
    seconds = units.get("second", 0) + sub_ns // 10**9
    frac = f"{sub_ns % 10**9:09d}".rstrip("0")
    time = "".join(f"{units[u]}{d}" for u, d in (("hour", "H"), ("minute", "M")) if units.get(u))
    if seconds or frac:
        time += f"{seconds}.{frac}S" if frac else f"{seconds}S"
    if not date and not time:
        time = "0S"
    return "P" + date + ("T" + time if time else "")
