"""A fake admin API (httpx.MockTransport) behind the CLI's AdminClient, and a CliRunner helper."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli import admin_client
from cli.commands import common
from cli.main import app

Responder = Callable[[httpx.Request], httpx.Response]


def error(status: int, message: str, code: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "restate_code": code})


@dataclass
class FakeAdmin:
    """Routes `(METHOD, path)` to canned answers; `/query` answers by the first matching SQL fragment."""

    routes: dict[tuple[str, str], Responder | httpx.Response] = field(default_factory=dict)
    queries: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Responder | httpx.Response | Any, status: int = 200) -> None:
        if not isinstance(answer, httpx.Response) and not callable(answer):
            answer = httpx.Response(status, json=answer)
        self.routes[(method, path)] = answer

    def rows(self, fragment: str, rows: list[dict[str, Any]]) -> None:
        self.queries.append((fragment, rows))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/query":
            query = json.loads(request.content)["query"]
            self.sql.append(query)
            for fragment, rows in self.queries:
                if fragment in query:
                    return httpx.Response(200, json={"rows": rows})
            return httpx.Response(200, json={"rows": []})
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404)
        return answer(request) if callable(answer) else answer

    def paths(self, method: str | None = None) -> list[str]:
        return [r.url.path for r in self.requests if method is None or r.method == method]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdmin]:
    fake = FakeAdmin()

    def client(base_url: str = admin_client.DEFAULT_ADMIN_URL, http: httpx.Client | None = None) -> Any:
        transport = httpx.MockTransport(fake.handle)
        return admin_client.AdminClient(base_url, http=httpx.Client(transport=transport))

    monkeypatch.setattr(common, "AdminClient", client)
    yield fake


def run(*args: str) -> Result:
    """Runs `restate <args>` in-process, 200 columns wide."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "RESTATE_ADMIN_URL": "http://admin.test"})


def run_at(columns: int | None, *args: str) -> Result:
    """Runs `restate <args>` in-process on a console `columns` wide; None: no COLUMNS, as in a pipe (80)."""
    env = {"COLUMNS": None if columns is None else str(columns), "RESTATE_ADMIN_URL": "http://admin.test"}
    return CliRunner().invoke(app, list(args), env=env)
