"""SDK exceptions: the user-facing TerminalError/RetryableError and the internal control-flow exceptions."""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "DisconnectedException",
    "RetryableError",
    "SdkInternalBaseException",
    "SdkInternalException",
    "SuspendedException",
    "TerminalError",
    "VMFailure",
    "is_internal_exception",
]


class TerminalError(Exception):
    """Raise to fail the invocation for good: Restate does not retry it.

    Args:
        message: the failure message returned to the caller.
        status_code: an HTTP-like code (default 500).
        metadata: optional string metadata attached to the failure (protocol V6+).
    """

    def __init__(self, message: str, status_code: int = 500, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.metadata = metadata


class RetryableError(Exception):
    """Raise to fail this attempt and ask Restate to retry, optionally after `retry_after`.

    Args:
        message: the error message.
        status_code: an HTTP-like code (default 500).
        retry_after: the delay before the next attempt (overrides the retry policy once).
    """

    def __init__(self, message: str, status_code: int = 500, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


_DONT_CATCH = """
This exception is safe to ignore. If you see it, you might be using a try/catch all statement.

Don't do:
try:
  # Code
except:
  # This catches all exceptions, including the SdkInternalBaseException!

Do instead:
try:
  # Code
except TerminalError:
  # In Restate handlers you typically want to catch TerminalError only
"""


class SdkInternalBaseException(BaseException):
    """Internal control flow of the SDK (suspension, protocol failure); never catch it.

    It derives from BaseException so that `except Exception` in user code cannot swallow it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message + "\n" + _DONT_CATCH)


class SuspendedException(SdkInternalBaseException):
    """The invocation suspended: Restate resumes it when it can make progress."""

    def __init__(self) -> None:
        super().__init__("Invocation got suspended, Restate will resume this invocation when progress can be made.")


class SdkInternalException(SdkInternalBaseException):
    """This attempt failed with a retryable error; Restate retries from where it left off."""

    def __init__(self) -> None:
        super().__init__(
            "Invocation attempt raised a retryable error.\n"
            "Restate will retry executing this invocation from the point where it left off."
        )


class VMFailure(SdkInternalBaseException):
    """The protocol state machine failed (journal mismatch, protocol violation, closed); the attempt ends.

    Attributes:
        code: the error code written in the ErrorMessage (570 mismatch, 571 protocol violation, ...).
        reason: the error message without the "don't catch" explanation.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"[{code}] {reason}")
        self.code = code
        self.reason = reason


class DisconnectedException(Exception):
    """The connection to the Restate server was lost; the server retries the attempt."""

    def __init__(self) -> None:
        super().__init__("Disconnected. The connection to the restate server was lost. Restate will retry the attempt.")


def is_internal_exception(e: BaseException) -> bool:
    """True if `e` is an internal SDK exception (re-raise it, never handle it)."""
    return isinstance(e, SdkInternalBaseException)
