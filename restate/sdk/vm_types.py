"""Values exchanged with the VM: invocation input, failures, await trees, progress answers and retry configs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ANY_COMPLETED",
    "CANCEL_HANDLE",
    "CANCEL_SIGNALED",
    "NOT_READY",
    "SUSPENDED",
    "WAIT_EXTERNAL",
    "AllCompleted",
    "AnyCompleted",
    "CancelSignalReceived",
    "ExecuteRun",
    "Failure",
    "FirstCompleted",
    "Invocation",
    "NotReady",
    "NotificationKey",
    "Progress",
    "Run",
    "RunRetryConfig",
    "Suspended",
    "UnresolvedFuture",
    "WaitExternalProgress",
]

#: The handle of the built-in CANCEL signal (signal index 1); user handles start at 17.
CANCEL_HANDLE = 1

#: How the VM names a notification: completion id n -> n, signal index n -> -n, named signal -> its name.
NotificationKey = int | str


@dataclass
class Invocation:
    """What the handler gets from the StartMessage and InputCommand."""

    invocation_id: str
    random_seed: int
    headers: list[tuple[str, str]]
    input_buffer: bytes
    key: str
    scope: str | None = None
    limit_key: str | None = None
    idempotency_key: str | None = None


@dataclass
class Failure:
    """A terminal failure (code + message), as carried by Output, notifications and proposals."""

    code: int
    message: str
    stacktrace: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class Run:
    """A registered ctx.run: its handle, and whether its result is already in the replayed journal."""

    replayed: bool
    handle: int


@dataclass
class RunRetryConfig:
    """The ctx.run retry policy (all durations in milliseconds). All unset: retry forever with the server policy."""

    initial_interval: int | None = None
    max_attempts: int | None = None
    max_duration: int | None = None
    max_interval: int | None = None
    interval_factor: float | None = None


class FirstCompleted:
    """Await tree node: done when any child is done."""

    __slots__ = ("children",)

    def __init__(self, children: list[UnresolvedFuture]) -> None:
        self.children = children


class AllCompleted:
    """Await tree node: done when every child is done."""

    __slots__ = ("children",)

    def __init__(self, children: list[UnresolvedFuture]) -> None:
        self.children = children


#: What user code awaits: a single handle (int) or a combinator over handles.
UnresolvedFuture = int | FirstCompleted | AllCompleted


class NotReady:
    """take_notification: the handle has no result yet."""


class Suspended:
    """The VM wrote a Suspension: stop running user code."""


class AnyCompleted:
    """do_progress: the awaited future can be resolved now."""


class WaitExternalProgress:
    """do_progress: wait for more input or for a running ctx.run to finish, then ask again."""


class CancelSignalReceived:
    """do_progress: the invocation was cancelled (signal 1)."""


@dataclass(frozen=True)
class ExecuteRun:
    """do_progress: execute the closure of this run handle, then ask again."""

    handle: int


NOT_READY = NotReady()
SUSPENDED = Suspended()
ANY_COMPLETED = AnyCompleted()
WAIT_EXTERNAL = WaitExternalProgress()
CANCEL_SIGNALED = CancelSignalReceived()

Progress = AnyCompleted | WaitExternalProgress | CancelSignalReceived | ExecuteRun | Suspended
