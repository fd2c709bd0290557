"""`/ui/` on the admin port: the app's files, index.html for the app's routes, redirects, no escape from static/."""

from __future__ import annotations

import asyncio

import pytest

from restate.admin import ui
from tests.unit.admin.helpers import FakeBackend, Reply, call

INDEX = (ui.STATIC / "index.html").read_bytes()


def get(path: str, method: str = "GET") -> Reply:
    return asyncio.run(call(FakeBackend().app(), method, path))


def test_ui_without_slash_redirects() -> None:
    reply = get("/ui")
    assert (reply.status, reply.headers["location"], reply.body) == (308, "/ui/", b"")


@pytest.mark.parametrize("path", ["/ui/", "/ui/overview", "/ui/invocations/inv_1abc", "/ui/state/Board/a%2Fb"])
def test_app_routes_answer_the_shell(path: str) -> None:
    reply = get(path)
    assert (reply.status, reply.headers["content-type"], reply.body) == (200, "text/html; charset=utf-8", INDEX)
    assert reply.headers["service-worker-allowed"] == "/"
    assert b'<script type="module" src="/ui/js/main.js">' in reply.body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/ui/js/main.js", "text/javascript; charset=utf-8"),
        ("/ui/js/views/invocations.js", "text/javascript; charset=utf-8"),
        ("/ui/css/app.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_their_type(path: str, content_type: str) -> None:
    reply = get(path)
    assert (reply.status, reply.headers["content-type"]) == (200, content_type)
    assert reply.body == (ui.STATIC / path.removeprefix("/ui/")).read_bytes()


def test_head_has_no_body() -> None:
    reply = get("/ui/js/main.js", "HEAD")
    assert (reply.status, reply.body) == (200, b"")
    assert int(reply.headers["content-length"]) == len((ui.STATIC / "js" / "main.js").read_bytes())


def test_a_missing_script_is_404_not_html() -> None:
    assert get("/ui/js/nope.js").status == 404
    assert get("/ui/css/nope.css").status == 404


@pytest.mark.parametrize("path", ["/ui/../app.py", "/ui/js/../../__init__.py", "/ui/%2e%2e/__init__.py"])
def test_no_file_outside_static(path: str) -> None:
    reply = get(path)
    assert reply.body in (INDEX, b"")
    assert b"import" not in reply.body


def test_every_script_the_shell_imports_exists() -> None:
    """Each relative `import ... from "./x.js"` of every module names a file that is there."""
    import re

    for script in (ui.STATIC / "js").rglob("*.js"):
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', script.read_text()):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports missing {target}"


def test_the_ui_is_not_under_api_versions() -> None:
    assert get("/v4/ui/").status == 404


@pytest.mark.parametrize("path", ["/", "/ui", "/ui/", "/ui/overview", "/ui/js/main.js"])
def test_the_ui_can_be_turned_off(path: str) -> None:
    """`admin.disable-web-ui`: 404 with an empty body, as the real server answers then; the API stays."""
    from restate.admin.app import AdminApp
    from restate.config import Config
    from restate.schema import Schema

    app = AdminApp(Schema(), Config(admin_disable_web_ui=True))
    reply = asyncio.run(call(app, "GET", path))
    assert (reply.status, reply.body) == (404, b"")
    assert asyncio.run(call(app, "GET", "/health")).status == 200
