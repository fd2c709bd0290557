"""Test-only fault injection in a partition process, enabled by an environment variable (off otherwise).

`RESTATE_TEST_FAIL_COMMIT="<partition>:<n>"` makes the n-th batch commit of that partition raise a
StorageError, as a failing LevelDB write would. It fires once per data directory: before raising it
creates `<base-dir>/faults/commit-p<partition>`, and a process that finds that file (the restarted
partition) commits normally, so the test sees one failure, the restart and the recovery.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from restate.storage.db import StorageError
from restate.storage.partition_store import Transaction

log = logging.getLogger(__name__)

FAIL_COMMIT_ENV = "RESTATE_TEST_FAIL_COMMIT"

Commit = Callable[[Transaction], None]


class CommitFault:
    """Counts the commits of one partition and fails the n-th one, once per data directory."""

    def __init__(self, nth: int, marker: Path) -> None:
        self.nth = nth
        self.marker = marker
        self.commits = 0

    def wrap(self, commit: Commit) -> Commit:
        def commit_or_fail(txn: Transaction) -> None:
            self.commits += 1
            if self.commits == self.nth and self._claim():
                raise StorageError(f"injected fault: commit {self.nth} fails ({FAIL_COMMIT_ENV})")
            commit(txn)

        return commit_or_fail

    def _claim(self) -> bool:
        """Creates the marker; False when it exists already (this fault fired in an earlier process)."""
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


def commit_fault(base_dir: str, partition: int, env: Mapping[str, str] | None = None) -> CommitFault | None:
    """The fault configured for `partition`, or None (no variable, another partition, or a bad value)."""
    spec = (os.environ if env is None else env).get(FAIL_COMMIT_ENV)
    if not spec:
        return None
    target, sep, nth = spec.partition(":")
    if not sep or not target.isdigit() or not nth.isdigit() or int(nth) < 1:
        log.warning("ignoring %s=%r: expected <partition>:<n>, n >= 1", FAIL_COMMIT_ENV, spec)
        return None
    if int(target) != partition:
        return None
    return CommitFault(int(nth), Path(base_dir) / "faults" / f"commit-p{partition}")
