"""restate.admin.query.encode: the JSON rows and the Arrow IPC stream of `POST /query` (HTTP-API.md 2.7)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from restate.admin.query.encode import arrow_stream, format_duration, format_timestamp, json_rows

TS = pa.timestamp("ms", tz="+00:00")


@pytest.mark.parametrize(
    ("value", "unit", "tz", "expected"),
    [
        (1_795_273_551_153, "ms", "+00:00", "2026-11-21T15:05:51.153Z"),  # as in the transcripts
        (1_795_273_551_000, "ms", "+00:00", "2026-11-21T15:05:51Z"),  # no fraction when it is zero
        (1_795_273_551_150, "ms", "+00:00", "2026-11-21T15:05:51.150Z"),  # milliseconds keep 3 digits
        (1_795_273_551_000_001, "us", "UTC", "2026-11-21T15:05:51.000001Z"),
        (1_795_273_551_000_000_001, "ns", "+00:00", "2026-11-21T15:05:51.000000001Z"),
        (1_795_273_551_153, "ms", "+02:00", "2026-11-21T17:05:51.153+02:00"),
        (1_795_273_551_153, "ms", None, "2026-11-21T15:05:51.153"),  # naive: no zone
        (0, "s", None, "1970-01-01T00:00:00"),
    ],
)
def test_timestamps(value: int, unit: str, tz: str | None, expected: str) -> None:
    assert format_timestamp(value, unit, tz) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [(86_400_000, "ms", "PT86400S"), (1_500, "ms", "PT1.5S"), (0, "ms", "P0D"), (-2_000, "ms", "-PT2S"),
     (1, "ns", "PT0.000000001S"), (90, "s", "PT90S")],
)  # fmt: skip
def test_durations(value: int, unit: str, expected: str) -> None:
    assert format_duration(value, unit) == expected


def test_json_rows_follow_the_arrow_json_writer() -> None:
    schema = pa.schema([
        ("partition_key", pa.uint64()), ("id", pa.large_string()), ("value", pa.large_binary()),
        ("created_at", TS), ("retention", pa.duration("ms")), ("waiting", pa.list_(pa.uint32())),
        ("flag", pa.bool_()), ("ratio", pa.float64()), ("stamps", pa.list_(TS)),
    ])  # fmt: skip
    batch = pa.RecordBatch.from_pylist([
        {"partition_key": 13589445083227758561, "id": "a", "value": b'{"delta": 1}', "created_at": 1_795_273_551_153,
         "retention": 86_400_000, "waiting": [1, 17], "flag": True, "ratio": 0.5, "stamps": [0, None]},
        {"partition_key": None, "id": "b", "value": None, "created_at": None, "retention": None, "waiting": None,
         "flag": False, "ratio": None, "stamps": None},
    ], schema=schema)  # fmt: skip
    body = json_rows(schema, [batch, batch.slice(1)])
    assert json.loads(body) == {"rows": [
        {"partition_key": 13589445083227758561, "id": "a", "value": "7b2264656c7461223a20317d",
         "created_at": "2026-11-21T15:05:51.153Z", "retention": "PT86400S", "waiting": [1, 17], "flag": True,
         "ratio": 0.5, "stamps": ["1970-01-01T00:00:00Z", None]},
        {"id": "b", "flag": False},  # nulls are left out
        {"id": "b", "flag": False},
    ]}  # fmt: skip
    assert b'"partition_key":13589445083227758561' in body  # a plain number, even above 2^53


def test_json_rows_without_batches() -> None:
    assert json_rows(pa.schema([("id", pa.large_string())]), []) == b'{"rows":[]}'


def test_arrow_stream_round_trip() -> None:
    schema = pa.schema([pa.field("count(*)", pa.int64(), nullable=False), pa.field("at", TS)])
    batch = pa.RecordBatch.from_pylist([{"count(*)": 3, "at": 5}], schema=schema)
    reader = pa.ipc.open_stream(arrow_stream(schema, [batch]))
    assert reader.schema == schema
    (got,) = list(reader)
    assert got.column(0).type == pa.int64() and got.column(0)[0].as_py() == 3
    empty = pa.ipc.open_stream(arrow_stream(schema, []))
    assert empty.schema == schema and list(empty) == []
