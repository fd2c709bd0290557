"""Serve an app in one call: `restate.serve(app)` runs it under hypercorn (HTTP/2 h2c and HTTP/1.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "bind_address", "hypercorn_config", "serve", "serve_async"]

#: Loopback only, like the server's own ports: exposing a deployment is a choice (`host="0.0.0.0"`).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9080


def _as_app(app_or_services: Any) -> Any:
    """An ASGI app from an app, or from an iterable of services."""
    if callable(app_or_services):
        return app_or_services
    from restate.sdk.asgi import app  # noqa: PLC0415 - avoid a cycle with the package init

    return app(services=list(app_or_services))


def bind_address(host: str, port: int) -> str:
    """hypercorn's `bind` for `host` and `port` (`HOST:PORT`, `[HOST]:PORT` for IPv6); ValueError if invalid."""
    if not isinstance(host, str) or not host.strip("[]"):
        raise ValueError(f"invalid host {host!r}: expected an interface address such as 127.0.0.1 or 0.0.0.0")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"invalid port {port!r}: expected an integer from 0 to 65535")
    host = host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def hypercorn_config(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Any:
    """A hypercorn Config tuned for Restate: many streams and requests per connection, long keep-alive."""
    from hypercorn.config import Config  # noqa: PLC0415 - optional dependency

    config = Config()
    config.bind = [bind_address(host, port)]
    config.h2_max_concurrent_streams = 2**31 - 1
    config.keep_alive_max_requests = 2**31 - 1
    config.keep_alive_timeout = 600
    config.graceful_timeout = 1.0
    return config


async def serve_async(
    app_or_services: Any,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Serve until `shutdown_trigger` completes (default: until SIGINT / SIGTERM)."""
    from hypercorn.asyncio import serve as hypercorn_serve  # noqa: PLC0415 - optional dependency

    config = hypercorn_config(host, port)
    # without a trigger hypercorn stops on SIGINT / SIGTERM
    await hypercorn_serve(_as_app(app_or_services), config, shutdown_trigger=shutdown_trigger, mode="asgi")


def serve(app_or_services: Any | Iterable[Any], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve an app (or a list of services) on `host:port` until interrupted (Ctrl+C).

    Listens on 127.0.0.1 only unless told otherwise: `host="0.0.0.0"` (or `"::"`) accepts connections
    from other machines, e.g. from a Restate server in a container. Example:
    `restate.serve(restate.app([greeter]), port=9080)`, then register `http://localhost:9080`.
    Needs hypercorn (`pip install hypercorn`); any other ASGI server works too (HTTP/1.1 ones in
    request/response mode). Raises ValueError for an invalid host or port, OSError if it cannot listen.
    """
    try:
        asyncio.run(serve_async(app_or_services, host, port))
    except KeyboardInterrupt:
        pass
