"""`/metrics` of every server process on the node port, answered from the supervisor's own wait loop.

No thread: the supervisor forks its children and must stay single-threaded. A scrape is served
when the listening socket is readable; a client that stalls is cut off after `CLIENT_TIMEOUT_S`.
"""

from __future__ import annotations

import logging
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from restate import metrics
from restate.config import parse_bind_address

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_S = 1.0


class _QuietHandler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_S  # applied to each accepted connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics request from %s failed", client_address, exc_info=True)


class NodeMetricsServer:
    """A blocking HTTP server handling one request per `serve_one` call; waitable via `fileno`."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    @classmethod
    def open(cls, address: str) -> NodeMetricsServer | None:
        """Listens on `address` (HOST:PORT); None when it is empty; OSError when it cannot (the caller warns)."""
        if not address:
            return None
        host, port = parse_bind_address(address, "bind-address")
        server = make_server(host, port, make_wsgi_app(metrics.registry()), _Server, _QuietHandler)
        server.timeout = 0
        return cls(server)

    def fileno(self) -> int:
        return self._server.fileno()

    def serve_one(self) -> None:
        """Accepts and answers one waiting connection (returns at once when there is none)."""
        self._server.handle_request()

    def close(self) -> None:
        self._server.server_close()
