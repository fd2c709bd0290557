"""restate.admin.query.encode: the JSON rows and the Arrow IPC stream of `POST /query` (HTTP-API.md 2.7)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from restate.admin.query.encode import arrow_stream, format_duration, format_timestamp, json_rows
from restate.admin.query.engine import run

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


def test_arrow_stream_writes_batches_differing_in_nullability_under_the_result_schema() -> None:
    """DataFusion's union/join branches may give batches a not-null field the result declares nullable."""
    schema = pa.schema([pa.field("bucket", pa.large_string())])
    strict = pa.schema([pa.field("bucket", pa.large_string(), nullable=False)])
    batches = [pa.RecordBatch.from_pylist([{"bucket": "a"}], schema=strict),
               pa.RecordBatch.from_pylist([{"bucket": None}], schema=schema)]  # fmt: skip
    table = pa.ipc.open_stream(arrow_stream(schema, batches)).read_all()
    assert table.schema == schema and table.column(0).to_pylist() == ["a", None]


# (query, the row restate-server 1.7.12 answered as JSON): types the introspection tables do not have, which
# `restate sql` can still produce; several used to fail the whole answer with a 500
REAL_ROWS = [
    ("SELECT arrow_cast(1, 'Time64(Nanosecond)') AS t", {"t": "00:00:00.000000001"}),
    ("SELECT arrow_cast(1000000, 'Time64(Microsecond)') AS t", {"t": "00:00:01"}),
    ("SELECT arrow_cast(9999999999999, 'Timestamp(Second, None)') AS t",
     {"t": "ERROR: Cast error: Failed to convert 9999999999999 to datetime for Timestamp(s)"}),
    ("SELECT arrow_cast(-99999999999, 'Timestamp(Second, None)') AS t", {"t": "-1199-02-15T14:13:21"}),
    ("SELECT arrow_cast(-62135596801, 'Timestamp(Second, None)') AS t", {"t": "0000-12-31T23:59:59"}),
    ("SELECT arrow_cast(253402300800, 'Timestamp(Second, Some(\"+00:00\"))') AS t", {"t": "+10000-01-01T00:00:00Z"}),
    ("SELECT arrow_cast(99999999, 'Date32') AS d",
     {"d": "ERROR: Cast error: Failed to convert 99999999 to temporal for Date32"}),
    ("SELECT arrow_cast(-719530, 'Date32') AS d", {"d": "-0001-12-30"}),
    ("SELECT arrow_cast(95026236, 'Date32') AS d", {"d": "+262142-12-31"}),
    ("SELECT arrow_cast(1, 'Date64') AS d", {"d": "1970-01-01T00:00:00.001"}),
    ("SELECT map(['a','b'],[NULL, 2]) AS m", {"m": {"b": 2}}),
    ("SELECT named_struct('a', 1, 'b', NULL) AS s", {"s": {"a": 1}}),
    ("SELECT named_struct('t', arrow_cast(1, 'Timestamp(Millisecond, Some(\"+00:00\"))'), 'b', X'01') AS s",
     {"s": {"t": "1970-01-01T00:00:00.001Z", "b": "01"}}),
    ("SELECT INTERVAL '1 month 2 days 3 hours' AS i", {"i": "1 mons 2 days 3 hours"}),
    ("SELECT INTERVAL '1.5 seconds' AS i", {"i": "1.500000000 secs"}),
    ("SELECT INTERVAL '-1 day' AS i", {"i": "-1 days"}),
    ("SELECT arrow_cast('a', 'Dictionary(Int32, Utf8)') AS d", {"d": "a"}),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "row"), REAL_ROWS)
def test_json_rows_of_other_arrow_types(sql: str, row: dict[str, object]) -> None:
    result = run(sql, {})
    assert json.loads(json_rows(result.schema, result.batches)) == {"rows": [row]}


def test_decimals_are_json_numbers_written_as_they_are() -> None:
    result = run("SELECT arrow_cast(-0.5, 'Decimal128(10, 3)') AS d, arrow_cast(12, 'Decimal128(20, 0)') AS e", {})
    assert json_rows(result.schema, result.batches) == b'{"rows":[{"d":-0.500,"e":12}]}'
