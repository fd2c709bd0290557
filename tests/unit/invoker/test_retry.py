"""The retry policy: 500 ms initial, x2, capped at 1 min, next_retry_delay for one retry only."""

from __future__ import annotations

from restate.config import Config
from restate.invoker.retry import Policy, RetryState, policy_for
from restate.schema import RetryPolicy, ServiceSchema


def test_default_backoff_doubles_up_to_the_cap() -> None:
    policy = policy_for(Config(), None, None)
    state = RetryState()
    delays = [state.on_failure(policy, None) for _ in range(10)]
    assert delays[:5] == [500, 1000, 2000, 4000, 8000]
    assert max(d for d in delays if d is not None) == 60_000


def test_next_retry_delay_replaces_one_delay_without_using_an_attempt() -> None:
    policy = Policy(max_attempts=3)
    state = RetryState()
    assert state.on_failure(policy, 100) == 100
    assert state.on_failure(policy, None) == 500  # the policy's first delay: the hint used no attempt
    assert state.on_failure(policy, None) == 1000
    assert state.on_failure(policy, None) is None  # third counted failure exhausts max_attempts=3


def test_retry_count_since_last_entry_resets_on_a_new_command() -> None:
    state = RetryState()
    state.on_failure(Policy(), None)
    state.on_failure(Policy(), None)
    assert state.since_last_entry == 2
    state.on_new_entry()
    assert state.since_last_entry == 0
    assert state.failures == 2  # new commands do not reset the policy's attempt counter


def test_service_and_handler_policies_override_the_defaults() -> None:
    service = ServiceSchema(
        name="S",
        ty="Service",
        handlers={},
        deployment_id="dp_1",
        retry_policy=RetryPolicy(initial_interval_ms=50, max_attempts=5, on_max_attempts="Kill"),
    )
    policy = policy_for(Config(), service, RetryPolicy(max_attempts=2))
    assert (policy.initial_interval_ms, policy.max_attempts, policy.on_max_attempts) == (50, 2, "kill")
