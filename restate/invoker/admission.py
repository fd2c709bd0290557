"""Admission of a partition's attempts: bounded per partition and per deployment, counted at launch, queued fairly."""

from __future__ import annotations

from collections.abc import Iterator


class Admission:
    """Which attempts may run now; the rest wait in FIFO order (sans-IO: the invoker does the launching).

    A slot is taken the moment an attempt is admitted, before anything is awaited, so a burst (a batch
    of new invocations, or every running invocation resumed after a restart) can never launch past the
    bounds. Waiting attempts are kept in two FIFO classes, `recovered` (resumed after a restart) and new
    work; when both have an attempt that could run, they take turns, so a recovery backlog of any size
    delays a new invocation by at most as many launches as there are new ones ahead of it. Within a class
    the oldest attempt whose deployment has room goes first: a full deployment holds back only its own."""

    def __init__(self, limit: int, per_deployment: int | None = None) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, got {limit}")
        self.limit = limit
        self.per_deployment = limit if per_deployment is None else max(1, min(per_deployment, limit))
        self.running = 0
        self._running_for: dict[str, int] = {}
        # (deployment, recovered) -> invocation id -> arrival number, in arrival order
        self._queues: dict[tuple[str, bool], dict[bytes, int]] = {}
        self._where: dict[bytes, tuple[str, bool]] = {}
        self._arrivals = 0
        self._recovered_next = False  # which class goes first when both can launch

    @property
    def waiting(self) -> int:
        """How many attempts wait for a slot."""
        return len(self._where)

    def __contains__(self, invocation_id: object) -> bool:
        return invocation_id in self._where

    def running_for(self, deployment: str) -> int:
        """Admitted attempts of `deployment` that have not been released."""
        return self._running_for.get(deployment, 0)

    def admit(self, invocation_id: bytes, deployment: str, *, recovered: bool = False) -> bool:
        """True when the attempt may launch now (its slot is taken); else it waits (once) in its queue."""
        if invocation_id in self._where:
            return False  # already waiting: it keeps its place
        if self._has_room(deployment) and not self._queues.get((deployment, not recovered)):
            # nothing of the other class waits for this deployment, so jumping in is no unfairness
            if not self._queues.get((deployment, recovered)):
                self._take_slot(deployment)
                return True
        key = (deployment, recovered)
        self._queues.setdefault(key, {})[invocation_id] = self._arrivals
        self._arrivals += 1
        self._where[invocation_id] = key
        return False

    def discard(self, invocation_id: bytes) -> bool:
        """Forgets a waiting attempt (killed, paused, or started another way); True if it was waiting."""
        key = self._where.pop(invocation_id, None)
        if key is None:
            return False
        queue = self._queues[key]
        del queue[invocation_id]
        if not queue:
            del self._queues[key]
        return True

    def release(self, deployment: str) -> None:
        """An admitted attempt of `deployment` ended (or never started): its slot is free again."""
        count = self._running_for.get(deployment, 0)
        if count <= 0 or self.running <= 0:
            raise RuntimeError(f"released a slot of deployment {deployment!r} that was not taken")
        self.running -= 1
        if count == 1:
            del self._running_for[deployment]
        else:
            self._running_for[deployment] = count - 1

    def launchable(self) -> Iterator[tuple[bytes, str]]:
        """Admits waiting attempts while there is room, in fair order; each one yielded holds its slot.

        A generator so that the caller may launch (and release) between two admissions."""
        while self.running < self.limit:
            picked = self._pick()
            if picked is None:
                return
            invocation_id, deployment = picked
            self._take_slot(deployment)
            yield invocation_id, deployment

    # --- internals

    def _has_room(self, deployment: str) -> bool:
        return self.running < self.limit and self._running_for.get(deployment, 0) < self.per_deployment

    def _take_slot(self, deployment: str) -> None:
        self.running += 1
        self._running_for[deployment] = self._running_for.get(deployment, 0) + 1

    def _pick(self) -> tuple[bytes, str] | None:
        """Removes and returns the next attempt to launch, or None if none can launch now."""
        heads: dict[bool, tuple[int, bytes, tuple[str, bool]]] = {}
        for key, queue in self._queues.items():
            if self._running_for.get(key[0], 0) >= self.per_deployment:
                continue
            invocation_id, arrival = next(iter(queue.items()))
            best = heads.get(key[1])
            if best is None or arrival < best[0]:
                heads[key[1]] = (arrival, invocation_id, key)
        if not heads:
            return None
        recovered = self._recovered_next if len(heads) == 2 else next(iter(heads))
        self._recovered_next = not recovered
        _, invocation_id, key = heads[recovered]
        self.discard(invocation_id)
        return invocation_id, key[0]

