"""Invocation counts by service / handler / state and the creation-time order, kept by each commit once asked for.

Counts by service / handler / type / state, and the invocations by creation time. The first counting (or
newest-first) query of a partition scans its statuses once (restate.introspection.invocation_columns);
from then on every commit tells this cache what each written status was and became
(storage.partition_store.StatusWatch), and the counts (and the creation-time order) follow. A query finds
them ready: no scan, whatever the number of stored invocations. Nobody asking for a while (`IDLE_S`) drops
them, and the commits stop reading the previous statuses again.

Exactness: a count is built over a snapshot; the changes committed between that snapshot and the end of
the (stepped) scan are recorded and applied after it, so the kept counts equal the committed store.
"""

from __future__ import annotations

import bisect
import operator
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from restate.storage import status_summary

IDLE_S = 60.0  # counts nobody asked for this long are dropped

Attrs = tuple[str, ...]
Change = tuple[bytes, bytes | None, bytes | None]  # (invocation id, stored bytes before, after)
CREATED: Attrs = ("created_at_ms",)  # the name of the creation-time order among the builds


class StatusCounts:
    """Counters of status summaries by attribute tuples (`operator.attrgetter` keys), per attribute tuple."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, idle_s: float = IDLE_S) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._counts: dict[Attrs, Counter[Any]] = {}
        self._building: dict[Attrs, list[Change]] = {}  # changes committed since a build's snapshot
        self._created: list[tuple[int, bytes]] | None = None  # (created_at_ms, invocation id), in order
        self._used = 0.0

    @property
    def active(self) -> bool:
        """Whether commits must report their status changes (someone asked for counts recently)."""
        kept = self._counts or self._building or self._created is not None
        if kept and self._clock() - self._used > self._idle_s:
            self._counts.clear()
            self._building.clear()
            self._created = None
            kept = False
        return bool(kept)

    def created(self) -> list[tuple[int, bytes]] | None:
        """(created_at_ms, invocation id) of every invocation, oldest first, as committed (None: not kept;
        build it with `start(CREATED)` and `finish_created`). A copy of the whole order: `created_page`
        reads a few entries without one."""
        self._used = self._clock()
        return None if self._created is None else list(self._created)

    def created_page(self, past: tuple[int, bytes] | None, n: int, descending: bool) -> list[tuple[int, bytes]] | None:
        """The next `n` entries of the creation-time order after `past` (None: from the newest, or the
        oldest), newest first when `descending` (None: not kept). Paging by entry, not by position, stays
        right while commits insert and delete between two pages; only the page is copied."""
        self._used = self._clock()
        order = self._created
        if order is None:
            return None
        if descending:
            stop = len(order) if past is None else bisect.bisect_left(order, past)
            return order[max(0, stop - n) : stop][::-1]
        start = 0 if past is None else bisect.bisect_right(order, past)
        return order[start : start + n]

    def finish_created(self, found: list[tuple[int, bytes]]) -> None:
        """A build of the creation-time order (as of its snapshot): kept, with the changes since applied."""
        changes = self._building.pop(CREATED, None)
        if changes is None:
            return
        kept = sorted(found)
        _apply_created(kept, changes)
        self._created = kept

    def get(self, attrs: Attrs) -> Counter[Any] | None:
        """The kept counts by these attributes (None: not kept; build them with `start` and `finish`)."""
        self._used = self._clock()
        found = self._counts.get(attrs)
        return None if found is None else Counter(found)

    def start(self, attrs: Attrs) -> None:
        """A build begins, over a snapshot taken now: the changes committed from now on are recorded."""
        self._used = self._clock()
        self._building.setdefault(attrs, [])

    def finish(self, attrs: Attrs, counted: Counter[Any]) -> None:
        """The build's counts (as of its snapshot): kept, with the changes committed since applied."""
        changes = self._building.pop(attrs, None)
        if changes is None:
            return  # dropped meanwhile (idle): not kept
        kept = Counter(counted)
        _apply(kept, operator.attrgetter(*attrs), [_decoded(change) for change in changes])
        self._counts[attrs] = kept

    def statuses_committed(self, changes: list[Change]) -> None:
        if not self.active:
            return
        for pending in self._building.values():
            pending.extend(changes)
        if self._counts:
            decoded = [_decoded(change) for change in changes]
            for attrs, counter in self._counts.items():
                _apply(counter, operator.attrgetter(*attrs), decoded)
        if self._created is not None:
            _apply_created(self._created, changes)


Decoded = tuple[status_summary.StatusSummary | None, status_summary.StatusSummary | None]


def _decoded(change: Change) -> Decoded:
    _, before, after = change
    return (None if before is None else status_summary.decode(before),
            None if after is None else status_summary.decode(after))  # fmt: skip


def _apply(counter: Counter[Any], key: Callable[[Any], Any], changes: list[Decoded]) -> None:
    for before, after in changes:
        if before is not None:
            old = key(before)
            counter[old] -= 1
            if counter[old] <= 0:
                del counter[old]
        if after is not None:
            counter[key(after)] += 1


def _apply_created(order: list[tuple[int, bytes]], changes: list[Change]) -> None:
    """New statuses join the creation-time order, deleted ones leave it (a creation time never changes)."""
    for invocation_id, before, after in changes:
        if (before is None) == (after is None):
            continue
        if after is not None:
            bisect.insort(order, (status_summary.decode(after).created_at_ms, invocation_id))
        elif before is not None:
            entry = (status_summary.decode(before).created_at_ms, invocation_id)
            at = bisect.bisect_left(order, entry)
            if at < len(order) and order[at] == entry:
                del order[at]
