"""What each table scan of a planned query needs: its filters, columns and row limit.

The query is planned once against empty tables; DataFusion's optimizer has then pushed every filter it
could right above the scan it applies to (`Filter -> TableScan`), pruned the columns and moved row limits
into the scan (`fetch`). Reading those off the optimized plan tells which rows the partitions must send:
only the conditions that are plain comparisons of a column with constants (`=`, `!=`, `IN`, `NOT IN`,
`OR` of equalities, `LIKE 'prefix%'`) are used; anything else is left to DataFusion alone.

A row limit above a filter (`Limit -> Filter -> TableScan`, DataFusion keeps in-memory scans unfiltered)
goes to the partitions too when every condition of that filter became a ScanFilter: the partitions then
apply the whole filter exactly, so their first `limit` rows that pass are enough (each stops scanning there).
Likewise a top-k (`Sort(fetch=k)` over aliases and column projections, on an exact filter or none) whose
first key is a column the partitions can order by: each sends the rows with its k best values of that
column (ties of the k-th included), from which DataFusion's sort picks the same k as from every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datafusion import Expr, LogicalPlan

from restate.wire import ScanFilter

#: Columns admin fills in after the partitions answered: a filter on one is never sent, so a limit above it
#: cannot be sent either.
NOT_PUSHED = frozenset({"last_attempt_server"})
#: Per table, the columns a partition can send its top-k rows of (never null: no NULLS FIRST/LAST question).
ORDERABLE = {
    "sys_invocation": frozenset({"created_at", "modified_at"}),
    "sys_invocation_status": frozenset({"created_at", "modified_at"}),
}


@dataclass
class ScanSpec:
    """What to read of one table: rows passing all `filters`, only `columns` (None: all), at most `limit`."""

    table: str
    filters: list[ScanFilter] = field(default_factory=list)
    columns: list[str] | None = None
    limit: int | None = None
    scans: int = 1  # how many scans of the table the plan has
    order: tuple[str, bool] | None = None  # (column, descending): `limit` is a top-k by that column

    def merge(self, other: ScanSpec) -> ScanSpec:
        """The spec covering both scans (a table used twice in one query): the filters both have, and
        the union of two `in` filters on the same column (when each scan has one there)."""
        filters = [f for f in self.filters if f in other.filters]
        for column in {f.column for f in self.filters}:
            mine, theirs = _in_filters(self.filters, column), _in_filters(other.filters, column)
            if len(mine) == 1 and len(theirs) == 1 and mine[0] != theirs[0]:
                values = mine[0].values + [v for v in theirs[0].values if v not in mine[0].values]
                filters.append(ScanFilter(column, "in", values))
        if self.columns is None or other.columns is None:
            columns = None
        else:
            columns = self.columns + [c for c in other.columns if c not in self.columns]
        # a limit holds for the rows of its own filters only: merged, the other scan's rows could be missing
        same = self.filters == other.filters
        same = same and self.order == other.order
        limit = max(self.limit, other.limit) if same and self.limit is not None and other.limit is not None else None
        order = self.order if limit is not None else None
        return ScanSpec(self.table, filters, columns, limit, self.scans + other.scans, order)


def _in_filters(filters: list[ScanFilter], column: str) -> list[ScanFilter]:
    return [f for f in filters if f.column == column and f.op == "in"]


def scan_specs(plan: LogicalPlan, tables: set[str]) -> dict[str, ScanSpec]:
    """The scans of `tables` in an optimized logical plan, merged per table."""
    specs: dict[str, ScanSpec] = {}

    def add(spec: ScanSpec) -> None:
        specs[spec.table] = specs[spec.table].merge(spec) if spec.table in specs else spec

    def walk(node: LogicalPlan) -> None:
        kind, variant = _node(node)
        if kind == "Limit":
            spec = _limited(node, variant, tables)
            if spec is not None:
                add(spec)
                return
        if kind == "Sort":
            spec = _top(node, variant, tables)
            if spec is not None:
                add(spec)
                return
        if kind == "Filter":
            (child,) = node.inputs()
            child_kind, scan = _node(child)
            if child_kind == "TableScan":
                table = _table_name(scan.table_name())
                if table in tables:
                    add(_spec(table, scan, variant.predicate()))
                return
        elif kind == "TableScan":
            table = _table_name(variant.table_name())
            if table in tables:
                add(_spec(table, variant, None))
            return
        for child in node.inputs():
            walk(child)

    walk(plan)
    return specs


def _limited(node: LogicalPlan, limit: Any, tables: set[str]) -> ScanSpec | None:
    """The spec of `Limit -> Filter -> TableScan` with the limit pushed down, when the filter is exact."""
    (child,) = node.inputs()
    child_kind, _ = _node(child)
    fetch, skip = _int(limit.fetch()), _int(limit.skip())
    if child_kind != "Filter" or fetch is None or skip is None:
        return None
    spec = _exact_scan(child, tables)
    if spec is not None:
        spec.limit = skip + fetch
    return spec


def _top(node: LogicalPlan, sort: Any, tables: set[str]) -> ScanSpec | None:
    """The spec of a top-k (`Sort` with a fetch) over an exactly filtered (or unfiltered) scan."""
    fetch = sort.get_fetch_val()
    keys = sort.sort_exprs()
    if not isinstance(fetch, int) or not keys:
        return None
    column = _column(keys[0].expr())
    (child,) = node.inputs()
    while True:  # through aliases and projections of plain columns (they keep the rows and their names)
        kind, variant = _node(child)
        plain = kind == "Projection" and all(_variant(e)[0] == "Column" for e in variant.projections())
        if kind != "SubqueryAlias" and not plain:
            break
        (child,) = child.inputs()
    spec = _exact_scan(child, tables)
    if spec is None or column is None or column not in ORDERABLE.get(spec.table, ()):
        return None
    spec.limit, spec.order = fetch, (column, not keys[0].ascending())
    return spec


def _exact_scan(node: LogicalPlan, tables: set[str]) -> ScanSpec | None:
    """The spec of `Filter -> TableScan` or `TableScan` when the partitions can apply every condition."""
    kind, variant = _node(node)
    predicate = None
    if kind == "Filter":
        predicate = variant.predicate()
        (child,) = node.inputs()
        kind, variant = _node(child)
    if kind != "TableScan" or _table_name(variant.table_name()) not in tables or variant.fetch() is not None:
        return None
    parts = [part for expr in variant.filters() for part in conjuncts(expr)]
    if predicate is not None:
        parts += conjuncts(predicate)
    if any(f is None or f.column in NOT_PUSHED for f in map(to_filter, parts)):
        return None
    return _spec(_table_name(variant.table_name()), variant, predicate)


def _int(expr: Any) -> int | None:
    """The value of a Limit's `skip`/`fetch` (an integer literal; None when absent or not one)."""
    if expr is None:
        return None
    value = _literal(expr) if isinstance(expr, Expr) else _literal(Expr(expr))
    return value if isinstance(value, int) and value >= 0 else None


def _node(plan: LogicalPlan) -> tuple[str, Any]:
    """(kind, variant) of a plan node; kind "" for those the Python bindings cannot convert."""
    try:
        variant = plan.to_variant()
    except Exception:
        return "", None
    return type(variant).__name__, variant


def _table_name(name: str) -> str:
    """`sys_invocation` for `sys_invocation`, `public.sys_invocation` and `datafusion.public.sys_invocation`."""
    parts = name.split(".")
    if len(parts) == 1 or (parts[:-1] in (["public"], ["datafusion", "public"])):
        return parts[-1]
    return name


def _spec(table: str, scan: Any, predicate: Expr | None) -> ScanSpec:
    projection = scan.projection()
    columns = [name for _, name in projection] if projection is not None else None
    fetch = scan.fetch()
    conditions = [*scan.filters()]
    if predicate is not None and fetch is None:  # a filter above a limited scan must not narrow the scan
        conditions.append(predicate)
    filters = [f for expr in conditions for part in conjuncts(expr) if (f := to_filter(part)) is not None]
    return ScanSpec(table, filters, columns, fetch)


def _variant(expr: Expr) -> tuple[str, Any]:
    """(kind, variant) of an expression; kind "" for those the Python bindings cannot convert."""
    try:
        variant = expr.to_variant()
    except Exception:
        return "", None
    return type(variant).__name__, variant


def conjuncts(expr: Expr) -> list[Expr]:
    """`a AND b AND c` -> [a, b, c]."""
    kind, variant = _variant(expr)
    if kind == "BinaryExpr" and variant.op().upper() == "AND":
        return conjuncts(variant.left()) + conjuncts(variant.right())
    return [expr]


def to_filter(expr: Expr) -> ScanFilter | None:
    """The ScanFilter equivalent to a condition, or None when it is not a simple one."""
    kind, variant = _variant(expr)
    if kind == "BinaryExpr":
        return _binary(variant)
    if kind == "InList":
        column = _column(variant.expr())
        values = [_literal(item) for item in variant.list()]
        if column is None or any(v is None for v in values):
            return None
        return ScanFilter(column, "not_in" if variant.negated() else "in", values)  # type: ignore[arg-type]
    if kind == "Like":
        return _like(expr, variant)
    return None


def _binary(variant: Any) -> ScanFilter | None:
    op = variant.op().upper()
    if op == "OR":
        left, right = to_filter(variant.left()), to_filter(variant.right())
        if left is None or right is None or left.column != right.column or left.op != "in" or right.op != "in":
            return None
        return ScanFilter(left.column, "in", left.values + [v for v in right.values if v not in left.values])
    if op not in ("=", "!="):
        return None
    column, value = _column(variant.left()), _literal(variant.right())
    if column is None or value is None:
        column, value = _column(variant.right()), _literal(variant.left())
    if column is None or value is None:
        return None
    return ScanFilter(column, "in" if op == "=" else "not_in", [value])


def _like(expr: Expr, variant: Any) -> ScanFilter | None:
    column, pattern = _column(variant.expr()), _literal(variant.pattern())
    if column is None or not isinstance(pattern, str) or variant.negated() or variant.escape_char() is not None:
        return None
    plain = f"{variant.expr().canonical_name()} LIKE {variant.pattern().canonical_name()}"
    if expr.canonical_name() != plain:  # ILIKE has the same variant
        return None
    stem = pattern[:-1] if pattern.endswith("%") else pattern
    if "%" in stem or "_" in stem or "\\" in stem:
        return None
    return ScanFilter(column, "prefix", [stem]) if pattern.endswith("%") else ScanFilter(column, "in", [stem])


def _column(expr: Expr) -> str | None:
    kind, variant = _variant(expr)
    if kind == "Column":
        name: str = variant.name()
        return name
    return None


def _literal(expr: Expr) -> str | int | None:
    """A string or integer constant (not bool), else None."""
    kind, _ = _variant(expr)
    if kind != "Literal":
        return None
    try:
        value = expr.python_value().as_py()
    except Exception:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value
