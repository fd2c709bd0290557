"""The two answers of `POST /query`: `{"rows": [...]}` JSON and an Arrow IPC stream.

The JSON follows the arrow-json writer the real server uses (HTTP-API.md 2.7): null columns are left
out of a row, binary is lowercase hex, timestamps are RFC 3339 with as many fraction digits as needed
(`2026-11-21T15:05:51.153Z`), durations ISO 8601 (`PT86400S`), 64-bit integers plain numbers, lists
arrays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import pyarrow as pa

_EPOCH = dt.datetime(1970, 1, 1)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_encoder = msgspec.json.Encoder()


def arrow_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> bytes:
    """An Arrow IPC stream: the schema message, every batch, the end-of-stream marker."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
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
    """The JSON values of one column (None for nulls)."""
    ty = array.type
    if pa.types.is_list(ty) or pa.types.is_large_list(ty):
        items = _column_values(array.values)
        offsets = array.offsets.to_pylist()
        valid = array.is_valid().to_pylist()
        return [items[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(array))]
    convert = _converter(ty)
    if convert is None:
        values: list[Any] = array.to_pylist()
        return values
    if pa.types.is_timestamp(ty) or pa.types.is_duration(ty):
        raw: list[Any] = array.cast(pa.int64()).to_pylist()
    elif pa.types.is_date32(ty):
        raw = array.cast(pa.int32()).to_pylist()
    else:
        raw = array.to_pylist()
    return [None if v is None else convert(v) for v in raw]


def _converter(ty: pa.DataType) -> Callable[[Any], Any] | None:
    """How to turn a raw value (integers for temporal types) into its JSON form (None: as it is)."""
    if pa.types.is_timestamp(ty):
        unit, tz = ty.unit, ty.tz
        return lambda v: format_timestamp(v, unit, tz)
    if pa.types.is_duration(ty):
        unit = ty.unit
        return lambda v: format_duration(v, unit)
    if pa.types.is_date32(ty):
        return lambda v: (_EPOCH + dt.timedelta(days=v)).date().isoformat()
    if pa.types.is_binary(ty) or pa.types.is_large_binary(ty) or pa.types.is_fixed_size_binary(ty):
        return lambda v: v.hex()
    if pa.types.is_time(ty) or pa.types.is_date64(ty) or pa.types.is_decimal(ty) or pa.types.is_interval(ty):
        return str
    return None


def format_timestamp(value: int, unit: str, tz: str | None) -> str:
    """chrono's `to_rfc3339_opts(AutoSi, true)` for zoned timestamps (`...T15:05:51.153Z`), the naive
    Debug form without a zone (`...T15:05:51.153`)."""
    per_second = _PER_SECOND[unit]
    seconds, fraction = divmod(value, per_second)
    nanos = fraction * (1_000_000_000 // per_second)
    offset = _offset_seconds(tz)
    moment = _EPOCH + dt.timedelta(seconds=seconds + offset)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1_000 == 0:
            text += f".{nanos // 1_000:06d}"
        else:
            text += f".{nanos:09d}"
    if tz is None:
        return text
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def _offset_seconds(tz: str | None) -> int:
    if tz is None or tz in ("UTC", "Z", "+00:00", "-00:00", "+0000"):
        return 0
    if len(tz) == 6 and tz[0] in "+-" and tz[3] == ":":
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
