"""Errors raised by the sans-IO service protocol codec."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(Exception):
    """A malformed, oversized or unexpected frame/message on the service protocol stream."""
