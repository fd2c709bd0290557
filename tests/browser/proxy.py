"""A same-origin front for a real server's admin API (test-only): our UI's files at /ui/, everything else forwarded.

The real server's admin API sends no CORS headers (an `OPTIONS` preflight answers 405), so a page served from
another origin cannot call it. A person points the UI at another server with `?admin=URL` when that server allows
it; for the real server this proxy gives the UI and the API one origin, as the admin port itself does.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from restate.admin import ui
from tests.support import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}
_NOT_FORWARDED = _HOP_BY_HOP | {"accept-encoding"}  # bodies pass through uncompressed (the real server speaks zstd)


class UiProxy:
    """Serves on 127.0.0.1:<free port>; `.url` has no trailing slash. Start/stop it with `with`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        client = httpx.Client(timeout=30.0)
        target = self.admin_url

        class Handler(BaseHTTPRequestHandler):
            def _ui(self) -> bool:
                path = self.path.split("?")[0]
                if self.command != "GET" or not (path == "/ui" or path.startswith("/ui/")):
                    return False
                reply = ui.serve(path.split("/")[2:])
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if reply.content_type:
                    self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return True

            def _forward(self) -> None:
                if self._ui():
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
                headers["accept-encoding"] = "identity"
                resp = client.request(self.command, f"{target}{self.path}", content=body, headers=headers)
                self.send_response(resp.status_code)
                for name, value in resp.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._client = client
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> UiProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
