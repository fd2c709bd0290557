"""`POST /query`: SQL over the introspection tables, answered as JSON or as an Arrow IPC stream.

Exactly as the real server (HTTP-API.md 2.7): the body is `{"query": "<SQL>"}` (415 / 400 / 422
text/plain rejections as for every JSON body); `Accept: application/json`, that exact string, gets
`{"rows": [...]}` as `application/json`, anything else (or no Accept) an Arrow stream; errors are
`{"message": "..."}` with 400 (SQL, planning), 500 (other DataFusion errors) or 503 (a partition
did not answer).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

import msgspec

from restate.admin.http import Request, Response, require_json
from restate.admin.jsonbody import Field, read_struct, string
from restate.admin.query import encode
from restate.admin.query.engine import QueryEngine, QueryError
from restate.admin.query.scan import Scanner, ZmqScanner

if TYPE_CHECKING:
    from restate.admin.app import AdminApp

JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_QUERY_REQUEST = [Field("query", string, optional=False, default=False)]
_engines: weakref.WeakKeyDictionary[AdminApp, QueryEngine] = weakref.WeakKeyDictionary()


def engine_of(app: AdminApp) -> QueryEngine:
    """The app's query engine, created on first use (over ZeroMQ unless `app.hooks.scanner` is set)."""
    engine = _engines.get(app)
    if engine is None:
        scanner: Scanner | None = app.hooks.scanner
        if scanner is None:
            scanner = ZmqScanner(app.config.base_dir)
        partitions = getattr(app.hooks.partitions, "num_partitions", None) or app.config.default_num_partitions
        engine = QueryEngine(scanner, partitions, lambda: app.schema)
        _engines[app] = engine
    return engine


async def post_query(app: AdminApp, req: Request) -> Response:
    require_json(req)
    sql = read_struct(req.body, "QueryRequest", _QUERY_REQUEST)["query"]
    assert isinstance(sql, str)
    try:
        result = await engine_of(app).execute(sql)
    except QueryError as exc:
        return Response(exc.status, msgspec.json.encode({"message": exc.message}), JSON)
    if req.headers.get("accept") == JSON:
        body = await asyncio.to_thread(encode.json_rows, result.schema, result.batches)
        return Response(200, body, JSON)
    body = await asyncio.to_thread(encode.arrow_stream, result.schema, result.batches)
    return Response(200, body, ARROW_STREAM)
