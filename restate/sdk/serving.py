"""Serve an app in one call: `restate.serve(app)` runs it under hypercorn (HTTP/2 h2c and HTTP/1.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["hypercorn_config", "serve", "serve_async"]


def _as_app(app_or_services: Any) -> Any:
    """An ASGI app from an app, or from an iterable of services."""
    if callable(app_or_services):
        return app_or_services
    from restate.sdk.asgi import app  # noqa: PLC0415 - avoid a cycle with the package init

    return app(services=list(app_or_services))


def hypercorn_config(host: str = "0.0.0.0", port: int = 9080) -> Any:
    """A hypercorn Config tuned for Restate: many streams and requests per connection, long keep-alive."""
    from hypercorn.config import Config  # noqa: PLC0415 - optional dependency

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.h2_max_concurrent_streams = 2**31 - 1
    config.keep_alive_max_requests = 2**31 - 1
    config.keep_alive_timeout = 600
    config.graceful_timeout = 1.0
    return config


async def serve_async(
    app_or_services: Any,
    host: str = "0.0.0.0",
    port: int = 9080,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Serve until `shutdown_trigger` completes (default: until SIGINT / SIGTERM)."""
    from hypercorn.asyncio import serve as hypercorn_serve  # noqa: PLC0415 - optional dependency

    config = hypercorn_config(host, port)
    # without a trigger hypercorn stops on SIGINT / SIGTERM
    await hypercorn_serve(_as_app(app_or_services), config, shutdown_trigger=shutdown_trigger, mode="asgi")


def serve(app_or_services: Any | Iterable[Any], host: str = "0.0.0.0", port: int = 9080) -> None:
    """Serve an app (or a list of services) on `host:port` until interrupted (Ctrl+C).

    Example: `restate.serve(restate.app([greeter]), port=9080)`, then register `http://localhost:9080`.
    Needs hypercorn (`pip install hypercorn`); any other ASGI server works too (HTTP/1.1 ones in
    request/response mode).
    """
    try:
        asyncio.run(serve_async(app_or_services, host, port))
    except KeyboardInterrupt:
        pass
