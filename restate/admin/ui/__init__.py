"""The web UI on the admin port: static files under `/ui/`, with the single-page app's fallback to index.html."""

from __future__ import annotations

from pathlib import Path

from restate.admin.http import Response

STATIC = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
# The real server's `/ui` answers carry this (it lets a service worker control the whole origin).
_COMMON = [("service-worker-allowed", "/")]
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}


def _read(relative: str) -> bytes | None:
    """A file of the static folder, read on each request (small files, in the OS cache; edits show at once)."""
    path = (STATIC / relative).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        return None
    return path.read_bytes()


def asset_path(segments: list[str]) -> str | None:
    """The static file a `/ui/...` path names, or None for a route of the app (served index.html)."""
    if any(s in ("", ".", "..") or "\\" in s for s in segments):
        return None
    relative = "/".join(segments)
    return relative if Path(relative).suffix in CONTENT_TYPES else None


def serve(segments: list[str]) -> Response:
    """`GET /ui/<segments>`: an asset by its path; any other path is a route of the app, answered with index.html.

    `segments` are the path's parts after `ui` (`[]` for `/ui`, `[""]` for `/ui/`).
    """
    if not segments:
        return Response(308, headers=[("location", "/ui/")])
    relative = asset_path(segments)
    body = _read(relative) if relative is not None else None
    if relative is None or body is None:
        if relative is not None and segments[0] in ("js", "css"):
            return Response(404)  # a missing script must fail loudly, not load HTML as JavaScript
        relative, body = INDEX, _read(INDEX)
        if body is None:
            return Response(404)
    headers = [*_COMMON, ("cache-control", "no-cache")]
    return Response(200, body, CONTENT_TYPES[Path(relative).suffix], headers)
