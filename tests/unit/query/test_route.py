"""`POST /query` through the admin ASGI app: body, content negotiation, errors (HTTP-API.md 2.7)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pyarrow as pa
import pytest

from restate.admin.app import AdminApp, AdminHooks
from restate.config import Config
from tests.unit.admin.helpers import Reply, call
from tests.unit.partition.harness import make_schema
from tests.unit.query.scenario import LocalScanner, Scenario, text

ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture
def app(scenario: Scenario) -> AdminApp:
    hooks = AdminHooks(scanner=LocalScanner({0: scenario.store}))
    return AdminApp(make_schema(), Config(default_num_partitions=1), hooks)


def query(app: AdminApp, sql: Any, accept: str | None = "application/json", path: str = "/query",
          headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
    hdrs = {"content-type": "application/json", **(headers or {})}
    if accept is not None:
        hdrs["accept"] = accept
    body = json.dumps(sql if isinstance(sql, dict) else {"query": sql}).encode()
    return asyncio.run(call(app, "POST", path, body, hdrs))


def test_json_rows(app: AdminApp, scenario: Scenario) -> None:
    reply = query(app, f"SELECT id, status FROM sys_invocation WHERE id = '{text(scenario.running)}'")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.body == f'{{"rows":[{{"id":"{text(scenario.running)}","status":"running"}}]}}'.encode()
    assert query(app, "SELECT id FROM sys_invocation WHERE id = 'inv_1nope'", path="/v4/query").body == b'{"rows":[]}'


@pytest.mark.parametrize("accept", [None, "*/*", "text/csv", "application/json; charset=utf-8",
                                    "application/json, */*", "APPLICATION/JSON"])  # fmt: skip
def test_anything_but_exactly_application_json_gets_arrow(app: AdminApp, accept: str | None) -> None:
    reply = query(app, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' "
                       "AND column_name IN ('version', 'entry_json', 'appended_at')", accept=accept)  # fmt: skip
    assert reply.status == 200 and reply.headers["content-type"] == ARROW
    reader = pa.ipc.open_stream(reply.body)
    assert reader.schema == pa.schema([pa.field("count(*)", pa.int64(), nullable=False)])
    assert reader.read_next_batch().column(0)[0].as_py() == 3


def test_errors_are_json_messages(app: AdminApp) -> None:
    bad = query(app, "SELEC 1")
    assert bad.status == 400 and bad.headers["content-type"] == "application/json"
    assert list(bad.json()) == ["message"] and bad.json()["message"].startswith("Datafusion error: SQL error:")
    unknown = query(app, "SELECT nope FROM sys_invocation", accept="*/*")
    assert unknown.status == 500 and unknown.json()["message"].startswith("Datafusion error: Schema error:")


def test_request_body_rejections(app: AdminApp) -> None:
    no_json = asyncio.run(call(app, "POST", "/query", b'{"query":"SELECT 1"}', {"content-type": "text/plain"}))
    assert no_json.status == 415 and no_json.body == b"Expected request with `Content-Type: application/json`"
    missing = query(app, {"sql": "SELECT 1"})
    assert missing.status == 422 and missing.headers["content-type"] == "text/plain; charset=utf-8"
    assert missing.body.startswith(b"Failed to deserialize the JSON body into the target type: missing field `query`")
    broken = asyncio.run(call(app, "POST", "/query", b"{", {"content-type": "application/json"}))
    assert broken.status == 400 and broken.body.startswith(b"Failed to parse the request body as JSON")
    assert query(app, {"query": "SELECT 1 AS x", "extra": True}).json() == {"rows": [{"x": 1}]}  # unknown fields ok
    assert asyncio.run(call(app, "GET", "/query")).status == 405
