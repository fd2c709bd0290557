"""Column-wise scans of `sys_invocation` and `sys_invocation_status`: only the columns a query needs.

A query rarely needs all ~50 columns of an invocation: `COUNT(*)` needs none, the CLI's and the UI's
lists an id, a status and a target, their counts a service and a status. From the cheapest to the most
expensive way of answering:

* no columns and no filters: the status keys are counted (no record read);
* only columns with few distinct values (service, handler, type, status, completion result), no limit:
  the statuses are counted by those values (partial decodes counted in C, `collections.Counter`) and the
  answer is one row per distinct combination with its number of repeats (`TableRows.repeats`);
* every column (returned or filtered on) with an extractor below: each status is only partly decoded
  (restate.storage.status_summary), the filters are checked on their own columns first, and only a row
  that passes gets its other columns;
* otherwise the full row is built (as partition_tables builds it) and filtered.
"""

from __future__ import annotations

import heapq
import operator
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from restate import ids
from restate.introspection import partition_tables as pt
from restate.introspection.status_counts import CREATED, StatusCounts
from restate.storage import codec
from restate.storage import status_summary as summary
from restate.storage.status_summary import StatusSummary
from restate.storage.view import PartitionView

Extract = Callable[[bytes, StatusSummary], Any]
STEP_ROWS = 1_000  # statuses decoded between two yields of a scan (a couple of milliseconds of work)
Step = None | tuple[list[list[Any]], int, list[int] | None]


def _invoked_by_id(_: bytes, s: StatusSummary) -> str | None:
    return None if s.caller_id is None else ids.invocation_id_text(s.caller_id)


_COMMON: dict[str, Extract] = {
    "id": lambda inv_id, _: ids.invocation_id_text(inv_id),
    "target": lambda _, s: str(s.target),
    "target_service_name": lambda _, s: s.target.service,
    "target_handler_name": lambda _, s: s.target.handler,
    "target_service_key": lambda _, s: s.target.key,
    "target_service_ty": lambda _, s: s.target.service_ty,
    "created_at": lambda _, s: s.created_at_ms,
    "modified_at": lambda _, s: s.modified_at_ms,
    "invoked_by": lambda _, s: "ingress" if s.caller_id is None else "service",
    "invoked_by_id": _invoked_by_id,
    "pinned_deployment_id": lambda _, s: s.deployment_id,
    "idempotency_key": lambda _, s: s.idempotency_key,
    "created_using_restate_version": lambda _, s: pt.RESTATE_VERSION,
    "completion_result": lambda _, s: s.completion_result,
}

#: Per table, the columns computed from a status summary (any other one needs the full row).
EXTRACTORS: dict[str, dict[str, Extract]] = {
    "sys_invocation": {**_COMMON, "status": lambda _, s: s.derived_status},
    "sys_invocation_status": {
        **_COMMON,
        "status": lambda _, s: s.status,
        "partition_key": lambda inv_id, _: int.from_bytes(inv_id[:8], "big"),
    },
}


def scan(
    view: PartitionView,
    table: str,
    f: pt.Filters,
    names: list[str],
    limit: int | None,
    order: tuple[str, bool] | None = None,
    counts: StatusCounts | None = None,
) -> Iterator[Step]:
    """Steps of a scan (None between two chunks of work), then (values per column of `names`, row count,
    repeats). With `order` (column, descending), `limit` asks for a top-k by that column."""
    needed = [*names, *(flt.column for flt in f.filters)]
    extractors = EXTRACTORS[table]
    if order is not None and limit is not None:
        if order[0] in extractors and all(flt.column in extractors for flt in f.filters):
            if counts is not None and order[0] == "created_at" and pt.wanted_ids(f, table) is None:
                yield from _newest(view, table, f, names, limit, order[1], counts)
            else:
                yield from _top(view, table, f, names, limit, order)
            return
        limit = None  # no top-k this way: every row that passes (the engine sorts)
    if not needed and (counts is None or limit is not None):
        yield from _count(view, limit)
    elif limit is None and all(c in GROUPS for c in needed) and pt.wanted_ids(f, table) is None:
        yield from _grouped(view, table, f, names, counts)
    elif all(name in EXTRACTORS[table] for name in [*names, *(flt.column for flt in f.filters)]):
        yield from _summaries(view, table, f, names, limit)
    else:
        yield from _full_rows(view, table, f, names, limit)


def _count(view: PartitionView, limit: int | None) -> Iterator[Step]:
    """Counts the invocations from their keys alone."""
    count = 0
    for count, _ in enumerate(view.status_keys(), 1):
        if count % (STEP_ROWS * 10) == 0:
            yield None
        if limit is not None and count >= limit:
            break
    yield [], count, None


#: The columns a scan can count by, and the attribute of a status summary each one comes from.
GROUPS = {
    "target_service_name": "target.service",
    "target_handler_name": "target.handler",
    "target_service_ty": "target.service_ty",
    "status": "state",
    "completion_result": "state",
}


def _group_value(table: str, column: str, value: Any) -> Any:
    if column == "status":
        return summary.derived_status_of(value) if table == "sys_invocation" else summary.status_of(value)
    if column == "completion_result":
        return summary.completion_result_of(value)
    return value


def _grouped(
    view: PartitionView, table: str, f: pt.Filters, names: list[str], kept: StatusCounts | None
) -> Iterator[Step]:
    """Counts the statuses by the attributes behind the needed columns (or takes the counts `kept` up to
    date since an earlier scan), then filters and projects the groups."""
    needed = sorted({*names, *(flt.column for flt in f.filters)})
    attrs = tuple(sorted({GROUPS[c] for c in needed})) or ("state",)  # COUNT(*): the counts by state, summed
    counts = kept.get(attrs) if kept is not None else None
    if counts is None:
        if kept is not None:
            kept.start(attrs)  # before the first yield: no commit since the scan's snapshot
        counts = Counter()
        getter = operator.attrgetter(*attrs)
        statuses = view.status_summary_values()
        while True:
            before = counts.total()
            counts.update(map(getter, islice(statuses, STEP_ROWS * 5)))  # counted in C
            if counts.total() == before:
                break
            yield None
        if kept is not None:
            kept.finish(attrs, counts)
    projected: dict[tuple[Any, ...], int] = {}
    for key, repeats in counts.items():
        found = dict(zip(attrs, key if len(attrs) > 1 else (key,), strict=True))
        row = {c: _group_value(table, c, found[GROUPS[c]]) for c in needed}
        if all(pt.passes(flt, row[flt.column]) for flt in f.filters):
            values = tuple(row[name] for name in names)
            projected[values] = projected.get(values, 0) + repeats
    columns: list[list[Any]] = [[values[i] for values in projected] for i in range(len(names))]
    if not names:
        yield [], sum(projected.values()), None
    else:
        yield columns, sum(projected.values()), list(projected.values())


def _top(
    view: PartitionView, table: str, f: pt.Filters, names: list[str], k: int, order: tuple[str, bool]
) -> Iterator[Step]:
    """The rows with the k best values of the order column (all those tied with the k-th too): summaries are
    compared, and only the chosen rows get their columns (full rows only for columns a summary lacks)."""
    extractors = EXTRACTORS[table]
    column, descending = order
    key = extractors[column]
    checks = [(flt, extractors[flt.column]) for flt in f.filters]
    services = f.allowed(pt.SERVICE_COLUMN[table])
    candidates: list[tuple[Any, bytes, StatusSummary]] = []
    bound = max(4 * k, 4 * STEP_ROWS)  # candidates kept before the worse ones are dropped
    for seen, (inv_id, status) in enumerate(view.status_summaries(pt.wanted_ids(f, table)), 1):
        if seen % STEP_ROWS == 0:
            if len(candidates) > bound:
                candidates = _best(candidates, k, descending)
            yield None
        if services is not None and status.target.service not in services:
            continue
        if all(pt.passes(flt, extract(inv_id, status)) for flt, extract in checks):
            candidates.append((key(inv_id, status), inv_id, status))
    chosen = _best(candidates, k, descending)
    yield _columns_of(view, table, names, chosen), len(chosen), None


def _newest(
    view: PartitionView, table: str, f: pt.Filters, names: list[str], k: int, descending: bool, kept: StatusCounts
) -> Iterator[Step]:
    """A top-k by creation time from the kept creation-time order (built by one scan the first time): only
    the invocations from the newest (or oldest) on are read, until k pass the filters (and the ties of the
    k-th)."""
    if kept.created_page(None, 0, descending) is None:
        kept.start(CREATED)  # before the first yield: no commit since the scan's snapshot
        built: list[tuple[int, bytes]] = []
        for seen, (inv_id, status) in enumerate(view.status_summaries(), 1):
            if seen % STEP_ROWS == 0:
                yield None
            built.append((status.created_at_ms, inv_id))
        kept.finish_created(built)
        if kept.created_page(None, 0, descending) is None:  # dropped meanwhile (idle): this build alone
            yield from _newest_of(view, table, f, names, k, descending, iter(sorted(built, reverse=descending)))
            return
    yield from _newest_of(view, table, f, names, k, descending, _pages(kept, descending, max(k, 1)))


def _pages(kept: StatusCounts, descending: bool, size: int) -> Iterator[tuple[int, bytes]]:
    """The kept creation-time order from the newest (or oldest) on, read a page at a time."""
    past = None
    while True:
        page = kept.created_page(past, size, descending)
        if not page:
            return
        yield from page
        past = page[-1]
        size = min(size * 2, STEP_ROWS * 10)


def _newest_of(
    view: PartitionView,
    table: str,
    f: pt.Filters,
    names: list[str],
    k: int,
    descending: bool,
    entries: Iterator[tuple[int, bytes]],
) -> Iterator[Step]:
    extractors = EXTRACTORS[table]
    checks = [(flt, extractors[flt.column]) for flt in f.filters]
    chosen: list[tuple[Any, bytes, StatusSummary]] = []
    last = None
    for seen, (created, inv_id) in enumerate(entries, 1):
        if k <= 0 or (last is not None and created != last):
            break
        if seen % STEP_ROWS == 0:
            yield None
        found = next(view.status_summaries([inv_id]), None)
        if found is None:  # created after this scan's snapshot
            continue
        if all(pt.passes(flt, extract(inv_id, found[1])) for flt, extract in checks):
            chosen.append((created, inv_id, found[1]))
            if len(chosen) == k:
                last = created
    yield _columns_of(view, table, names, chosen), len(chosen), None


def _columns_of(
    view: PartitionView, table: str, names: list[str], chosen: list[tuple[Any, bytes, StatusSummary]]
) -> list[list[Any]]:
    """The columns of the chosen rows (full rows only for columns a summary lacks)."""
    extractors = EXTRACTORS[table]
    columns: list[list[Any]] = [[] for _ in names]
    full_row = pt.invocation_row if table == "sys_invocation" else pt.status_row
    for _, inv_id, status in chosen:
        row = None
        for values, name in zip(columns, names, strict=True):
            extract = extractors.get(name)
            if extract is not None:
                values.append(extract(inv_id, status))
                continue
            if row is None:
                full = view.status(inv_id)
                row = {} if full is None else full_row(inv_id, full)
            values.append(row.get(name))
    return columns


def _best(candidates: list[Any], k: int, descending: bool) -> list[Any]:
    """The candidates at or above the k-th best key (ties of it included; none for k = 0)."""
    best = (heapq.nlargest if descending else heapq.nsmallest)(k, (c[0] for c in candidates))
    if not best:
        return []
    last = best[-1]
    return [c for c in candidates if (c[0] >= last if descending else c[0] <= last)]


def _summaries(view: PartitionView, table: str, f: pt.Filters, names: list[str], limit: int | None) -> Iterator[Step]:
    extractors = EXTRACTORS[table]
    checks = [(flt, extractors[flt.column]) for flt in f.filters]
    columns: list[list[Any]] = [[] for _ in names]
    plan = [(column, extractors[name]) for column, name in zip(columns, names, strict=True)]
    services = f.allowed(pt.SERVICE_COLUMN[table])
    count = 0
    for seen, (inv_id, status) in enumerate(view.status_summaries(pt.wanted_ids(f, table)), 1):
        if seen % STEP_ROWS == 0:
            yield None
        if services is not None and status.target.service not in services:
            continue
        if not all(pt.passes(flt, extract(inv_id, status)) for flt, extract in checks):
            continue
        for column, extract in plan:
            column.append(extract(inv_id, status))
        count += 1
        if limit is not None and count >= limit:
            break
    yield columns, count, None


def _full_rows(view: PartitionView, table: str, f: pt.Filters, names: list[str], limit: int | None) -> Iterator[Step]:
    """Rows built whole; the filters a summary can check go first, so a failing status is never fully decoded."""
    build = pt.invocation_row if table == "sys_invocation" else pt.status_row
    extractors = EXTRACTORS[table]
    early = [(flt, extractors[flt.column]) for flt in f.filters if flt.column in extractors]
    columns: list[list[Any]] = [[] for _ in names]
    count = 0
    for seen, (inv_id, raw) in enumerate(view.raw_statuses(pt.wanted_ids(f, table)), 1):
        if seen % STEP_ROWS == 0:
            yield None
        if early:
            glance = summary.decode(raw)
            if not all(pt.passes(flt, extract(inv_id, glance)) for flt, extract in early):
                continue
        row = build(inv_id, codec.decode_status(raw))
        if not f.admits(row):
            continue
        for column, name in zip(columns, names, strict=True):
            column.append(row.get(name))
        count += 1
        if limit is not None and count >= limit:
            break
    yield columns, count, None
