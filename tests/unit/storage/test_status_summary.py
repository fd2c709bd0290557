"""restate.storage.status_summary: a partial read of a stored status agrees with the full record."""

from __future__ import annotations

import pytest

from restate.introspection.partition_tables import derived_status
from restate.storage import codec, status_summary
from restate.storage import records as r
from tests.unit.storage.samples import states, status


@pytest.mark.parametrize("name", sorted(states()))
def test_summary_of_every_state_matches_the_full_record(name: str) -> None:
    full = status(states()[name])
    summary = status_summary.decode(codec.encode(full))
    assert summary.target == full.target
    assert (summary.created_at_ms, summary.modified_at_ms) == (full.created_at_ms, full.modified_at_ms)
    assert (summary.deployment_id, summary.caller_id, summary.idempotency_key) == (
        full.deployment_id, full.caller_id, full.idempotency_key)  # fmt: skip
    assert summary.status == full.status and summary.derived_status == derived_status(full)
    state = full.state
    expected = None
    if isinstance(state, r.Completed):
        expected = "failure" if state.outcome.failure is not None else "success"
    assert summary.completion_result == expected


def test_a_successful_completion_and_other_versions() -> None:
    done = status(r.Completed(outcome=r.OutcomeRecord(value=b"1"), expires_at_ms=5))
    assert status_summary.decode(codec.encode(done)).completion_result == "success"
    other_version = codec.encode(done).replace(b"\xa1v\x03", b"\xa1v\x63", 1)
    with pytest.raises(Exception, match="v"):
        status_summary.decode(other_version)  # a record of another version is refused, not half-read
