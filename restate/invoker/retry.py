"""The invoker's retry policy: exponential backoff with a cap and a maximum number of attempts (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from restate.config import Config
from restate.schema import RetryPolicy, ServiceSchema


@dataclass(frozen=True, slots=True)
class Policy:
    initial_interval_ms: int = 500
    factor: float = 2.0
    max_interval_ms: int = 60_000
    max_attempts: int | None = 70
    on_max_attempts: Literal["pause", "kill"] = "pause"

    def delay_ms(self, failures: int) -> int:
        """The wait before the retry that follows the `failures`-th counted failure (1-based)."""
        delay = self.initial_interval_ms * self.factor ** max(failures - 1, 0)
        return int(min(delay, self.max_interval_ms))


def policy_for(config: Config, service: ServiceSchema | None, handler_policy: RetryPolicy | None) -> Policy:
    """Server defaults, overridden by the service's and then the handler's discovered policy."""
    values = {
        "initial_interval_ms": config.retry_initial_interval_ms,
        "factor": config.retry_exponentiation_factor,
        "max_interval_ms": config.retry_max_interval_ms,
        "max_attempts": config.retry_max_attempts,
        "on_max_attempts": "pause",
    }
    for rp in (service.retry_policy if service else None, handler_policy):
        if rp is None:
            continue
        if rp.initial_interval_ms is not None:
            values["initial_interval_ms"] = rp.initial_interval_ms
        if rp.exponentiation_factor is not None:
            values["factor"] = rp.exponentiation_factor
        if rp.max_interval_ms is not None:
            values["max_interval_ms"] = rp.max_interval_ms
        if rp.max_attempts is not None:
            values["max_attempts"] = rp.max_attempts
        if rp.on_max_attempts is not None:
            values["on_max_attempts"] = rp.on_max_attempts.lower()
    return Policy(**values)  # type: ignore[arg-type]


class RetryState:
    """Per-invocation counters kept in the invoker's memory; forgotten on End, Suspension, a kill or a
    restart. Only the invoker's failure report (Invoker._report_failure) changes them."""

    __slots__ = ("failures", "since_last_entry")

    def __init__(self) -> None:
        self.failures = 0  # attempts counted against the policy
        self.since_last_entry = 0  # StartMessage.retry_count_since_last_stored_entry

    def on_new_entry(self) -> None:
        self.since_last_entry = 0

    def on_failure(self, policy: Policy, next_retry_delay_ms: int | None) -> int | None:
        """Records a failed attempt; returns the delay before the next one, or None when exhausted."""
        self.since_last_entry += 1
        if next_retry_delay_ms is not None:
            return next_retry_delay_ms  # replaces this one delay and does not use up an attempt
        self.failures += 1
        if policy.max_attempts is not None and self.failures >= policy.max_attempts:
            return None
        return policy.delay_ms(self.failures)
