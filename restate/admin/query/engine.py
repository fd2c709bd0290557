"""Runs one SQL query: plan it, fetch the rows it needs from the partitions, execute it in DataFusion.

1. Plan against empty tables (cheap, and it rejects bad SQL before anything is read). Every table of
   the real server is registered with its exact schema, so `information_schema` probes see them all.
2. From the optimized plan, take each scanned table's pushed-down filters, columns and row limit
   (`pushdown.scan_specs`) and read it: from the partitions that can hold matching rows (an invocation
   id, a partition key or an object key routes to one partition; otherwise all, in parallel), or from
   admin's registry (`sys_service`, `sys_deployment`).
3. Register what was read as in-memory tables and run the same SQL again in a fresh context.

DataFusion's work runs in a worker thread, so admin's event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions

from restate import ids
from restate.admin.query.errors import QueryError, datafusion_error
from restate.admin.query.pushdown import NOT_PUSHED, ScanSpec, scan_specs
from restate.admin.query.scan import Scanner, ScanUnavailable
from restate.admin.query.schemas import ADMIN_TABLES, PARTITION_TABLES, SCHEMAS
from restate.introspection.partition_tables import ID_COLUMN, KEY_COLUMN
from restate.schema import Schema
from restate.wire import ScanFilter, TableRows

MAX_CONCURRENT_QUERIES = 4
#: Columns admin fills in from its registry after the partitions answered (never pushed down).
_ENRICHED = NOT_PUSHED
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_SERVICE_TY = {"Service": "service", "VirtualObject": "virtual_object", "Workflow": "workflow"}


@dataclass
class QueryResult:
    schema: pa.Schema
    batches: list[pa.RecordBatch]


def _options() -> SQLOptions:
    """Queries only: no DDL or DML (SET, SHOW and EXPLAIN are fine, as on the real server)."""
    return SQLOptions().with_allow_ddl(False).with_allow_dml(False)


def _context() -> SessionContext:
    config = SessionConfig().with_information_schema(True).with_target_partitions(1)
    return SessionContext(config.with_default_catalog_and_schema("restate", "public"))


class QueryEngine:
    """Answers SQL over the partitions' tables (through `scanner`) and admin's registry (`registry()`)."""

    def __init__(self, scanner: Scanner, num_partitions: int, registry: Callable[[], Schema]) -> None:
        self.scanner = scanner
        self.num_partitions = num_partitions
        self.registry = registry
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_QUERIES)

    async def execute(self, sql: str) -> QueryResult:
        async with self._slots:
            specs = await asyncio.to_thread(plan, sql)
            tables = await self.read_tables(specs)
            return await asyncio.to_thread(run, sql, tables)

    async def read_tables(self, specs: dict[str, ScanSpec]) -> dict[str, pa.RecordBatch]:
        registry = self.registry()
        names = [name for name in specs if name in PARTITION_TABLES]
        batches = await asyncio.gather(*(self._read_partitions(specs[name], registry) for name in names))
        tables = dict(zip(names, batches, strict=True))
        if "sys_service" in specs:
            tables["sys_service"] = service_table(registry)
        if "sys_deployment" in specs:
            tables["sys_deployment"] = deployment_table(registry)
        return tables

    async def _read_partitions(self, spec: ScanSpec, registry: Schema) -> pa.RecordBatch:
        table = spec.table
        filters = [f for f in spec.filters if f.column not in _ENRICHED]
        columns = _requested_columns(table, spec.columns)
        partitions = route(table, spec.filters, self.num_partitions)
        try:
            answers = await asyncio.gather(
                *(self.scanner.scan(p, table, filters, columns, spec.limit, spec.order) for p in partitions)
            )
        except ScanUnavailable as exc:
            raise QueryError(503, f"Query service not available: {exc}") from None
        for partition, found in zip(partitions, answers, strict=True):
            if found.error is not None:
                raise QueryError(500, f"Datafusion error: External error: partition {partition}: {found.error}")
        return await asyncio.to_thread(to_batch, table, answers, registry)  # off admin's loop, as DataFusion is


def route(table: str, filters: Iterable[ScanFilter], num_partitions: int) -> list[int]:
    """The partitions that can hold rows passing the filters (an id, partition key or object key decides)."""
    chosen: set[int] | None = None
    for f in filters:
        if f.op != "in":
            continue
        if f.column == ID_COLUMN.get(table):
            keys = [pk for v in f.values if (pk := _id_partition_key(v)) is not None]
        elif f.column == "partition_key":
            keys = [v for v in f.values if isinstance(v, int) and 0 <= v < 1 << 64]
        elif f.column == KEY_COLUMN.get(table):
            keys = [ids.partition_key_for(v) for v in f.values if isinstance(v, str)]
        else:
            continue
        found = {ids.partition_for(pk, num_partitions) for pk in keys}
        chosen = found if chosen is None else chosen & found
    return sorted(chosen) if chosen is not None else list(range(num_partitions))


def _id_partition_key(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return ids.InvocationId.parse(value).partition_key
    except ids.IdError:
        return None


def _requested_columns(table: str, columns: list[str] | None) -> list[str] | None:
    if columns is None:
        return None
    wanted = [c for c in columns if c not in _ENRICHED]
    if "last_attempt_server" in columns and "last_attempt_deployment_id" not in wanted:
        wanted.append("last_attempt_deployment_id")
    return wanted  # empty for e.g. COUNT(*): the partitions then only count the rows


# --- building the in-memory tables -------------------------------------------------------------------------------


def to_batch(table: str, answers: Iterable[TableRows], registry: Schema) -> pa.RecordBatch:
    """One record batch of `table` from the partitions' column-major answers, built column by column: a
    counted column's values are repeated by Arrow (never as Python lists), and a column no partition sent
    shares one zeroed buffer (`_nulls`), so the batch costs the columns a query reads, not the table's width."""
    schema = SCHEMAS[table]
    answers = list(answers)
    rows = [_rows(answer) for answer in answers]
    total = sum(rows)
    arrays = []
    for field in schema:
        if not any(field.name in answer.columns for answer in answers):
            arrays.append(_absent(field, total))
            continue
        parts = [_answered(field, answer, n) for answer, n in zip(answers, rows, strict=True)]
        arrays.append(parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    enrich = "last_attempt_server" in schema.names
    if enrich and any("last_attempt_deployment_id" in answer.columns for answer in answers):
        servers = {d.id: d.sdk_version for d in registry.deployments.values()}
        deployments = batch.column("last_attempt_deployment_id").to_pylist()
        found = [None if dp is None else servers.get(dp) for dp in deployments]
        index = schema.get_field_index("last_attempt_server")
        batch = batch.set_column(index, schema.field(index), pa.array(found, type=pa.large_string()))
    return batch


def _rows(answer: TableRows) -> int:
    if answer.repeats is not None:
        return sum(answer.repeats)
    return len(answer.values[0]) if answer.values else (answer.count or 0)


def _answered(field: pa.Field, answer: TableRows, rows: int) -> pa.Array:
    """One partition's values of a column it may not have sent, each repeated as often as its row counts."""
    if field.name not in answer.columns:
        return _absent(field, rows)
    distinct = pa.array(answer.values[answer.columns.index(field.name)], type=field.type)
    if answer.repeats is None:
        return distinct
    if len(answer.repeats) == 1:
        return pa.repeat(distinct[0], answer.repeats[0])
    indices = pa.concat_arrays([pa.repeat(pa.scalar(i, pa.int32()), n) for i, n in enumerate(answer.repeats)] or
                               [pa.array([], pa.int32())])  # fmt: skip
    return distinct.take(indices)


def from_columns(schema: pa.Schema, values: dict[str, list[Any]], rows: int) -> pa.RecordBatch:
    arrays = []
    for field in schema:
        column = values.get(field.name)
        arrays.append(pa.array(column, type=field.type) if column is not None else _absent(field, rows))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _absent(field: pa.Field, rows: int) -> pa.Array:
    """A column that was not read: nulls (or, not nullable, a placeholder nothing refers to)."""
    if field.nullable:
        return _nulls(field.type, rows)
    return pa.repeat(pa.scalar(_placeholder(field.type), type=field.type), rows)


_MAX_SHARED = 64 << 20  # the zeroed buffer kept for null columns (enough for 8 million rows)
_zeros = pa.py_buffer(bytearray(8))


def _zeroed(size: int) -> pa.Buffer:
    """A read-only buffer of at least `size` zero bytes, shared by every null column (Arrow never writes
    into an array's buffers, so one zeroed allocation serves as validity, offsets and values of them all)."""
    global _zeros
    if _zeros.size >= size:
        return _zeros
    found = pa.py_buffer(bytearray(max(size, 2 * _zeros.size)))
    if found.size <= _MAX_SHARED:
        _zeros = found  # a race only allocates twice: either buffer is all zeros
    return found


def _nulls(ty: pa.DataType, rows: int) -> pa.Array:
    """`rows` nulls of type `ty` without allocating per column (validity bits and offsets all zero)."""
    if pa.types.is_large_string(ty) or pa.types.is_large_binary(ty):
        zeros = _zeroed(8 * (rows + 1))
        return pa.Array.from_buffers(ty, rows, [zeros, zeros, zeros.slice(0, 0)], null_count=rows)
    if pa.types.is_list(ty):
        zeros = _zeroed(4 * (rows + 1))
        child = pa.array([], type=ty.value_type)
        return pa.Array.from_buffers(ty, rows, [zeros, zeros], null_count=rows, children=[child])
    if pa.types.is_primitive(ty):  # bool, integers, timestamps, durations: validity and values
        zeros = _zeroed(max(8 * rows, 1))
        return pa.Array.from_buffers(ty, rows, [zeros, zeros], null_count=rows)
    return pa.nulls(rows, type=ty)


def _placeholder(ty: pa.DataType) -> Any:
    """A value for a non-nullable column that was not read (nothing refers to it)."""
    if pa.types.is_boolean(ty):
        return False
    if pa.types.is_integer(ty) or pa.types.is_timestamp(ty) or pa.types.is_duration(ty):
        return 0
    return ""


def service_table(registry: Schema) -> pa.RecordBatch:
    services = sorted(registry.services.values(), key=lambda s: s.name)
    values: dict[str, list[Any]] = {
        "name": [s.name for s in services],
        "revision": [s.revision for s in services],
        "public": [s.public for s in services],
        "ty": [_SERVICE_TY[s.ty] for s in services],
        "deployment_id": [s.deployment_id for s in services],
    }
    return from_columns(SCHEMAS["sys_service"], values, len(services))


def deployment_table(registry: Schema) -> pa.RecordBatch:
    deployments = sorted(registry.deployments.values(), key=lambda d: d.created_at_ms)
    values: dict[str, list[Any]] = {
        "id": [d.id for d in deployments],
        "ty": ["http" for _ in deployments],
        "endpoint": [d.uri for d in deployments],
        "created_at": [d.created_at_ms for d in deployments],
        "min_service_protocol_version": [d.min_protocol_version for d in deployments],
        "max_service_protocol_version": [d.max_protocol_version for d in deployments],
        "services": [sorted(d.services) for d in deployments],
    }
    return from_columns(SCHEMAS["sys_deployment"], values, len(deployments))


# --- the two DataFusion passes (run in a worker thread) ------------------------------------------------------------


def _register(ctx: SessionContext, tables: dict[str, pa.RecordBatch]) -> None:
    for name, schema in SCHEMAS.items():
        batch = tables.get(name)
        if batch is None:
            batch = pa.RecordBatch.from_pylist([], schema=schema)
        ctx.register_record_batches(name, [[batch]])


def plan(sql: str) -> dict[str, ScanSpec]:
    """What each table the query reads needs, from its plan over empty tables (raises QueryError)."""
    ctx = _context()
    _register(ctx, {})
    try:
        logical = ctx.sql_with_options(sql, _options()).optimized_logical_plan()
    except Exception as exc:
        raise datafusion_error(exc, sql) from None
    readable = set(PARTITION_TABLES) | set(ADMIN_TABLES)
    specs = scan_specs(logical, readable)
    # A table used inside an expression (a subquery the optimizer kept) has no scan in the plan tree: a
    # table the query names more often than the plan scans it is read whole.
    names = _IDENTIFIER.findall(_LITERAL.sub("''", _COMMENT.sub(" ", sql)).lower())
    for name in sorted(readable):
        mentions = names.count(name)
        if mentions and (name not in specs or specs[name].scans < mentions):
            specs[name] = ScanSpec(name, scans=mentions)
    return specs


def run(sql: str, tables: dict[str, pa.RecordBatch]) -> QueryResult:
    ctx = _context()
    _register(ctx, tables)
    try:
        df = ctx.sql_with_options(sql, _options())
        batches = df.collect()
        schema = df.schema()
    except Exception as exc:
        raise datafusion_error(exc, sql) from None
    return QueryResult(schema, batches)
