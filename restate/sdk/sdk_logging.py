"""Logging helpers: a filter that mutes records while a handler replays, and a logger that uses it."""

from __future__ import annotations

import logging

__all__ = ["RestateLoggingFilter", "getLogger"]


class RestateLoggingFilter(logging.Filter):
    """Drops log records emitted while the current invocation replays (they were logged the first time)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False while replaying."""
        from restate.sdk.server_context import restate_context_is_replaying  # noqa: PLC0415 - avoid a cycle

        return not restate_context_is_replaying.get()


def getLogger(name: str | None = None) -> logging.Logger:  # noqa: N802 - the official SDK's name
    """A logger that is silent during replays."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(RestateLoggingFilter())
    return logger
