"""The two answers of `POST /query`: `{"rows": [...]}` JSON and an Arrow IPC stream.

The JSON follows the arrow-json writer the real server uses (HTTP-API.md 2.7): null columns are left
out of a row, binary is lowercase hex, timestamps are RFC 3339 with as many fraction digits as needed
(`2026-11-21T15:05:51.153Z`), durations ISO 8601 (`PT86400S`), 64-bit integers plain numbers, lists
arrays, structs and maps objects (without their nulls), decimals numbers as written (`1.50`). Dates
and timestamps chrono cannot show are the writer's cast error as the value, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import pyarrow as pa

_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# Anything else Python cannot encode is written as its text, never a failed answer.
_encoder = msgspec.json.Encoder(enc_hook=str)


def arrow_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> bytes:
    """An Arrow IPC stream: the schema message, every batch, the end-of-stream marker.

    A batch's own schema may differ from the result's in nullability only (DataFusion's union and join
    branches), so each is written under the result's schema."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            if batch.schema != schema:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
            writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def json_rows(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> bytes:
    """`{"rows":[{...},...]}` with the arrow-json writer's conventions."""
    rows: list[dict[str, Any]] = []
    names = schema.names
    for batch in batches:
        columns = [_column_values(batch.column(i)) for i in range(batch.num_columns)]
        for values in zip(*columns, strict=True):
            rows.append({name: value for name, value in zip(names, values, strict=True) if value is not None})
    return _encoder.encode({"rows": rows})


def _column_values(array: pa.Array) -> list[Any]:
    """The JSON values of one column (None for nulls), nested types included."""
    ty = array.type
    if pa.types.is_dictionary(ty):
        return _column_values(array.dictionary_decode())
    if pa.types.is_list(ty) or pa.types.is_large_list(ty) or pa.types.is_fixed_size_list(ty):
        return _lists(array)
    if pa.types.is_map(ty):
        return _maps(array)
    if pa.types.is_struct(ty):
        return _structs(array)
    convert = _converter(ty)
    if convert is None:
        values: list[Any] = array.to_pylist()
        return values
    return [None if v is None else convert(v) for v in _raw_values(array)]


def _lists(array: Any) -> list[Any]:
    valid = array.is_valid().to_pylist()
    if pa.types.is_fixed_size_list(array.type):
        size = array.type.list_size
        items = _column_values(array.values)
        return [items[i * size : (i + 1) * size] if valid[i] else None for i in range(len(array))]
    items = _column_values(array.values)
    offsets = array.offsets.to_pylist()
    return [items[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(array))]


def _maps(array: Any) -> list[Any]:
    """A map is an object (its null values left out, as for the members of a row)."""
    keys, items = _column_values(array.keys), _column_values(array.items)
    offsets = array.offsets.to_pylist()
    valid = array.is_valid().to_pylist()
    return [
        {str(k): v for k, v in zip(keys[offsets[i] : offsets[i + 1]], items[offsets[i] : offsets[i + 1]], strict=True)
         if v is not None} if valid[i] else None
        for i in range(len(array))
    ]  # fmt: skip


def _structs(array: Any) -> list[Any]:
    """A struct is an object (its null members left out)."""
    names = [array.type.field(i).name for i in range(array.type.num_fields)]
    fields = [_column_values(array.field(i)) for i in range(array.type.num_fields)]
    valid = array.is_valid().to_pylist()
    return [
        {name: values[i] for name, values in zip(names, fields, strict=True) if values[i] is not None}
        if valid[i] else None
        for i in range(len(array))
    ]  # fmt: skip


def _raw_values(array: pa.Array) -> list[Any]:
    """Temporal values as integers (days, or units since the epoch / midnight), the others as Python values."""
    ty = array.type
    if pa.types.is_timestamp(ty) or pa.types.is_duration(ty) or pa.types.is_date64(ty) or pa.types.is_time64(ty):
        return array.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_date32(ty) or pa.types.is_time32(ty):
        return array.cast(pa.int32()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_float16(ty):
        return array.cast(pa.float32()).to_pylist()  # type: ignore[no-any-return]
    return array.to_pylist()  # type: ignore[no-any-return]


def _converter(ty: pa.DataType) -> Callable[[Any], Any] | None:
    """How to turn a raw value (integers for temporal types) into its JSON form (None: as it is)."""
    if pa.types.is_timestamp(ty):
        unit, tz = ty.unit, ty.tz
        return lambda v: format_timestamp(v, unit, tz)
    if pa.types.is_duration(ty):
        unit = ty.unit
        return lambda v: format_duration(v, unit)
    if pa.types.is_date32(ty):
        return format_date
    if pa.types.is_date64(ty):
        return lambda v: format_timestamp(v, "ms", None, "Date64")
    if pa.types.is_time(ty):
        unit = ty.unit
        return lambda v: format_time(v, unit)
    if pa.types.is_binary(ty) or pa.types.is_large_binary(ty) or pa.types.is_fixed_size_binary(ty):
        return lambda v: v.hex()
    if pa.types.is_decimal(ty):
        return lambda v: msgspec.Raw(format(v, "f").encode())  # a JSON number, written as the decimal is
    if pa.types.is_interval(ty):
        return format_interval
    if pa.types.is_float16(ty):
        return float
    return None


# chrono's dates run from -262143-01-01 to +262142-12-31 (days from 1970-01-01); beyond, arrow's JSON
# writer prints its cast error as the value (observed on the real server).
_MAX_DAYS = 95_026_236
_MIN_DAYS = -96_465_292


def _civil_date(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day counted from 1970-01-01, any year (Howard Hinnant's `civil_from_days`)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def _date_text(days: int) -> str:
    """chrono's NaiveDate: `2026-11-21`; a year outside 0..9999 gets its sign (`+10000-01-01`, `-0001-12-30`)."""
    year, month, day = _civil_date(days)
    shown = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):04d}"
    return f"{shown}-{month:02d}-{day:02d}"


def format_date(days: int) -> str:
    if not _MIN_DAYS <= days <= _MAX_DAYS:
        return f"ERROR: Cast error: Failed to convert {days} to temporal for Date32"
    return _date_text(days)


def _fraction(nanos: int) -> str:
    """chrono's `%.f`: nothing, or 3, 6 or 9 digits."""
    if not nanos:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


_UNIT_NAMES = {"s": "s", "ms": "ms", "us": "µs", "ns": "ns"}


def format_timestamp(value: int, unit: str, tz: str | None, arrow_type: str | None = None) -> str:
    """chrono's `to_rfc3339_opts(AutoSi, true)` for zoned timestamps (`...T15:05:51.153Z`), the naive
    Debug form without a zone (`...T15:05:51.153`)."""
    per_second = _PER_SECOND[unit]
    seconds, fraction = divmod(value, per_second)
    offset = _offset_seconds(tz)
    days, second_of_day = divmod(seconds + offset, 86_400)
    if not _MIN_DAYS <= days <= _MAX_DAYS:
        zone = "" if tz is None else f', "{tz}"'
        shown = arrow_type or f"Timestamp({_UNIT_NAMES[unit]}{zone})"
        return f"ERROR: Cast error: Failed to convert {value} to datetime for {shown}"
    hour, rest = divmod(second_of_day, 3600)
    text = f"{_date_text(days)}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
    text += _fraction(fraction * (1_000_000_000 // per_second))
    if tz is None:
        return text
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def format_time(value: int, unit: str) -> str:
    """chrono's NaiveTime: `HH:MM:SS` and the fraction (`00:00:00.000000001`)."""
    per_second = _PER_SECOND[unit]
    seconds, fraction = divmod(value, per_second)
    hour, rest = divmod(seconds, 3600)
    return f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}{_fraction(fraction * (1_000_000_000 // per_second))}"


def format_interval(value: Any) -> str:
    """arrow's display of an interval: `1 mons 2 days 3 hours`, `1.500000000 secs`, `-1 days`."""
    months = getattr(value, "months", 0)
    days = getattr(value, "days", 0)
    nanos = getattr(value, "nanoseconds", 0)
    parts = [f"{months} mons"] if months else []
    if days:
        parts.append(f"{days} days")
    if nanos:
        sign = "-" if nanos < 0 else ""
        hours, rest = divmod(abs(nanos), 3_600_000_000_000)
        minutes, rest = divmod(rest, 60_000_000_000)
        seconds, sub = divmod(rest, 1_000_000_000)
        if hours:
            parts.append(f"{sign}{hours} hours")
        if minutes:
            parts.append(f"{sign}{minutes} mins")
        if seconds or sub:
            parts.append(f"{sign}{seconds}.{sub:09d} secs")
    return " ".join(parts) or "0 secs"


def _offset_seconds(tz: str | None) -> int:
    if tz is None or tz in ("UTC", "Z", "+00:00", "-00:00", "+0000"):
        return 0
    if len(tz) == 6 and tz[0] in "+-" and tz[3] == ":" and tz[1:3].isdigit() and tz[4:6].isdigit():
        sign = 1 if tz[0] == "+" else -1
        return sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return 0  # named zones do not occur in these tables


def format_duration(value: int, unit: str) -> str:
    """chrono's `TimeDelta` Display: `PT86400S`, `PT1.5S`, `P0D` for zero, `-PT2S`."""
    per_second = _PER_SECOND[unit]
    sign = "-" if value < 0 else ""
    seconds, fraction = divmod(abs(value), per_second)
    if seconds == 0 and fraction == 0:
        return "P0D"
    nanos = fraction * (1_000_000_000 // per_second)
    text = f"{sign}PT{seconds}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "S"
