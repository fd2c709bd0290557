"""Column-wise scans of `sys_invocation` and `sys_invocation_status`: only the columns a query needs.

A query rarely needs all ~50 columns of an invocation: `COUNT(*)` needs none, the CLI's and the UI's
lists an id, a status and a target. Each column a query can use cheaply has an extractor from the stored
status; the filters are checked on their own columns first, and only a row that passes gets its other
columns (the full row, as partition_tables builds it, only when a rarer column is asked for). Without
columns and filters, the rows are only counted, from the keys (no record decoded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from restate import ids
from restate.introspection import partition_tables as pt
from restate.storage import records as r
from restate.storage.view import PartitionView

Extract = Callable[[bytes, r.InvocationStatus], Any]
STEP_ROWS = 2_000  # statuses read between two yields of a scan (a few milliseconds of work)


def _completion_result(_: bytes, status: r.InvocationStatus) -> str | None:
    state = status.state
    if not isinstance(state, r.Completed):
        return None
    return "failure" if state.outcome.failure is not None else "success"


def _invoked_by_id(_: bytes, status: r.InvocationStatus) -> str | None:
    return None if status.caller_id is None else ids.invocation_id_text(status.caller_id)


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
    "completion_result": _completion_result,
}

#: Per table, the columns computed on their own (any other column comes from the full row).
EXTRACTORS: dict[str, dict[str, Extract]] = {
    "sys_invocation": {**_COMMON, "status": lambda _, s: pt.derived_status(s)},
    "sys_invocation_status": {
        **_COMMON,
        "status": lambda _, s: s.status,
        "partition_key": lambda inv_id, _: int.from_bytes(inv_id[:8], "big"),
    },
}


def _full_row(table: str) -> Callable[[bytes, r.InvocationStatus], pt.Row]:
    if table == "sys_invocation":
        return pt.invocation_row
    return pt.status_row


def scan(
    view: PartitionView, table: str, f: pt.Filters, names: list[str], limit: int | None
) -> Iterator[None | tuple[list[list[Any]], int]]:
    """Steps of a scan (None between two chunks of work), then (values per column of `names`, row count)."""
    if not names and not f.filters:
        yield from _count(view, limit)
        return
    extractors = EXTRACTORS[table]
    row_of = _RowOnce(_full_row(table))
    checks = [(flt, extractors.get(flt.column)) for flt in f.filters]
    columns: list[list[Any]] = [[] for _ in names]
    plan = [(column, extractors.get(name), name) for column, name in zip(columns, names, strict=True)]
    count = 0
    for seen, (inv_id, status) in enumerate(pt.invocation_statuses(view, f, table), 1):
        if seen % STEP_ROWS == 0:
            yield None
        row_of.reset()
        if not all(pt.passes(flt, row_of.value(flt.column, inv_id, status) if extract is None
                             else extract(inv_id, status)) for flt, extract in checks):  # fmt: skip
            continue
        for column, extract, name in plan:
            column.append(row_of.value(name, inv_id, status) if extract is None else extract(inv_id, status))
        count += 1
        if limit is not None and count >= limit:
            break
    yield columns, count


def _count(view: PartitionView, limit: int | None) -> Iterator[None | tuple[list[list[Any]], int]]:
    """Counts the invocations from their keys alone."""
    count = 0
    for count, _ in enumerate(view.status_keys(), 1):
        if count % (STEP_ROWS * 10) == 0:
            yield None
        if limit is not None and count >= limit:
            break
    yield [], count


class _RowOnce:
    """The full row of the current status, built on first use (for the columns without an extractor)."""

    __slots__ = ("build", "row")

    def __init__(self, build: Callable[[bytes, r.InvocationStatus], pt.Row]) -> None:
        self.build = build
        self.row: pt.Row | None = None

    def reset(self) -> None:
        self.row = None

    def value(self, name: str, inv_id: bytes, status: r.InvocationStatus) -> Any:
        if self.row is None:
            self.row = self.build(inv_id, status)
        return self.row.get(name)
