"""Admin API errors: JSON `{message, restate_code}` errors and the framework's text/plain rejections."""

from __future__ import annotations

import msgspec


class AdminError(Exception):
    """An error a handler answers with `{"message": ..., "restate_code": ...}` (application/json)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> bytes:
        return msgspec.json.encode({"message": self.message, "restate_code": self.code})


class PlainError(Exception):
    """A request the framework rejects before any handler runs (text/plain; charset=utf-8)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def coded(status: int, code: str | None, message: str) -> AdminError:
    """A schema-registry error: the message is prefixed with `[CODE] ` once, as Restate decorates it."""
    return AdminError(status, f"[{code}] {message}" if code else message, code)


def discovery_failed(code: str | None, message: str) -> AdminError:
    """A discovery error (500): Restate boxes and then decorates it, so the code prefix appears twice."""
    text = f"[{code}] [{code}] {message}" if code else message
    return AdminError(500, text, code)


def invalid_field(field: str, reason: str) -> AdminError:
    return AdminError(400, f"The request field '{field}' is invalid. Reason: {reason}")


def not_found(message: str) -> AdminError:
    return AdminError(404, message)
