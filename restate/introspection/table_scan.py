"""A partition's answer to `wire.ScanTable`, computed in steps so that the partition's loop keeps running.

`steps()` is a generator: it does a bounded chunk of work (a few thousand rows) between two `None`s and
ends with the TableRows. The partition process advances it on its event loop, yielding to its other work
between chunks, over one store snapshot, so a scan of 100,000 invocations neither stalls the loop nor
competes with it for the GIL from another thread. `scan()` runs the steps at once (tests, tools).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from restate.introspection import invocation_columns
from restate.introspection import partition_tables as pt
from restate.introspection.status_counts import StatusCounts
from restate.storage.view import PartitionView, Reader
from restate.wire import ScanFilter, ScanTable, TableRows

STEP_ROWS = 500  # rows produced between two yields for the tables built row by row

Result = tuple[list[str], list[list[Any]], int, list[int] | None]


def steps(reader: Reader, message: ScanTable, counts: StatusCounts | None = None) -> Iterator[TableRows | None]:
    """None after each chunk of work, then the answer (never raises: a failure is the answer's error).

    `counts`: the partition's kept invocation counts; `reader` must then be a snapshot taken just now."""
    try:
        order = (message.order_by, message.descending) if message.order_by is not None else None
        work = scan_steps(reader, message.table, message.filters, message.columns, message.limit, order, counts)
        while True:
            step = next(work)
            if step is None:
                yield None
            else:
                names, values, count, repeats = step
                yield TableRows(message.request_id, names, values, count=count, repeats=repeats)
                return
    except Exception as exc:  # a bug or a closed store: the query fails with this message
        yield TableRows(message.request_id, [], [], f"{type(exc).__name__}: {exc}")


def answer(reader: Reader, message: ScanTable) -> TableRows:
    """The answer to a ScanTable, all steps at once."""
    for step in steps(reader, message):
        if step is not None:
            return step
    raise AssertionError("unreachable: steps() always ends with an answer")


def scan(
    reader: Reader,
    table: str,
    filters: Iterable[ScanFilter] = (),
    columns: Iterable[str] | None = None,
    limit: int | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The table's rows as column-major values: (column names, one list of values per column)."""
    for step in scan_steps(reader, table, filters, columns, limit):
        if step is not None:
            names, values, _, repeats = step
            return names, values if repeats is None else [expand(column, repeats) for column in values]
    raise AssertionError("unreachable: scan_steps() always ends with a result")


def scan_steps(
    reader: Reader,
    table: str,
    filters: Iterable[ScanFilter] = (),
    columns: Iterable[str] | None = None,
    limit: int | None = None,
    order: tuple[str, bool] | None = None,
    counts: StatusCounts | None = None,
) -> Iterator[Result | None]:
    """None after each chunk of work, then (column names, values per column, number of rows, repeats).

    With `order` (column, descending), `limit` asks for the rows with the best `limit` values of the column."""
    if table not in pt.COLUMNS:
        raise ValueError(f"no partition table {table!r}")
    names = pt.COLUMNS[table] if columns is None else [c for c in columns if c in pt.COLUMNS[table]]
    if table in invocation_columns.EXTRACTORS:
        f = pt.Filters(table, filters, names)
        for step in invocation_columns.scan(PartitionView(reader), table, f, names, limit, order, counts):
            if step is None:
                yield None
            else:
                yield names, *step
                return
        return
    if order is not None:
        limit = None  # no top-k here: every row (the engine sorts)
    values: list[list[Any]] = [[] for _ in names]
    count = 0
    for row in pt.rows(reader, table, filters, names):
        if limit is not None and count >= limit:
            break
        for column, name in zip(values, names, strict=True):
            column.append(row.get(name))
        count += 1
        if count % STEP_ROWS == 0:
            yield None
    yield names, values, count, None


def expand(column: list[Any], repeats: list[int]) -> list[Any]:
    """A counted column's values, each repeated as often as its row stands for."""
    found: list[Any] = []
    for value, n in zip(column, repeats, strict=True):
        found.extend([value] * n)
    return found
