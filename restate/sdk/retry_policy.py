"""The invocation retry policy advertised in the discovery manifest (v4+)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

__all__ = ["InvocationRetryPolicy"]


@dataclass
class InvocationRetryPolicy:
    """How Restate retries failed attempts of a service or handler (restate-server >= 1.5).

    Attributes:
        initial_interval: delay before the first retry.
        exponentiation_factor: multiplier applied to the delay after each retry.
        max_interval: upper bound of any delay.
        max_attempts: attempts before giving up (the first call counts as one).
        on_max_attempts: "pause" or "kill" once max_attempts is reached.
    """

    initial_interval: timedelta | None = None
    exponentiation_factor: float | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None
