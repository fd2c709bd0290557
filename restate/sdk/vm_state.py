"""The VM's lifecycle: its states, the events that move it, and the one table saying where each event leads."""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "OPEN_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "IllegalTransitionError",
    "VMEvent",
    "VMState",
    "next_state",
]


class VMState(enum.Enum):
    """Where one invocation attempt is; the last three are terminal (the response body is complete)."""

    WAITING_START = "waiting_start"  # nothing received yet: the StartMessage comes first
    WAITING_REPLAY_ENTRIES = "waiting_replay_entries"  # buffering the `known_entries` entries the server replays
    REPLAYING = "replaying"  # user code re-runs: each operation must match the next replayed command
    PROCESSING = "processing"  # the replayed journal is consumed: operations write new commands
    SUSPENDED = "suspended"  # a SuspensionMessage was written
    ENDED = "ended"  # an EndMessage was written
    FAILED = "failed"  # an ErrorMessage was written (a VM failure, or user code failed retryably)

    # Members are singletons compared by identity, so an identity hash is consistent, and it is C code: Enum's
    # own __hash__ runs Python for every frame (the state is looked up in TERMINAL_STATES and TRANSITIONS).
    __hash__ = object.__hash__


class VMEvent(enum.Enum):
    """What moves the VM from one state to the next."""

    START_RECEIVED = "start_received"  # a valid StartMessage arrived
    REPLAY_RECEIVED = "replay_received"  # the last of the `known_entries` replayed entries arrived
    REPLAY_CONSUMED = "replay_consumed"  # user code matched the last replayed command
    SUSPENSION_WRITTEN = "suspension_written"  # awaited results are missing and no more input will come
    END_WRITTEN = "end_written"  # the handler finished (after its output)
    ERROR_WRITTEN = "error_written"  # protocol violation, journal mismatch, unsupported feature or a user error

    __hash__ = object.__hash__  # as VMState's: TRANSITIONS is keyed by (state, event)


S, E = VMState, VMEvent

#: Every move the VM can make: (from state, event) -> to state. Anything else is a bug (IllegalTransitionError).
TRANSITIONS: Mapping[tuple[VMState, VMEvent], VMState] = {
    (S.WAITING_START, E.START_RECEIVED): S.WAITING_REPLAY_ENTRIES,
    (S.WAITING_START, E.ERROR_WRITTEN): S.FAILED,
    (S.WAITING_REPLAY_ENTRIES, E.REPLAY_RECEIVED): S.REPLAYING,
    (S.WAITING_REPLAY_ENTRIES, E.ERROR_WRITTEN): S.FAILED,
    (S.REPLAYING, E.REPLAY_CONSUMED): S.PROCESSING,
    # user code may stop before consuming the whole replayed journal: it awaits a missing result, or returns
    (S.REPLAYING, E.SUSPENSION_WRITTEN): S.SUSPENDED,
    (S.REPLAYING, E.END_WRITTEN): S.ENDED,
    (S.REPLAYING, E.ERROR_WRITTEN): S.FAILED,
    (S.PROCESSING, E.SUSPENSION_WRITTEN): S.SUSPENDED,
    (S.PROCESSING, E.END_WRITTEN): S.ENDED,
    (S.PROCESSING, E.ERROR_WRITTEN): S.FAILED,
}

#: The states in which user operations (sys_*, do_progress) are accepted.
OPEN_STATES = frozenset({S.REPLAYING, S.PROCESSING})
#: The states after which nothing more is written.
TERMINAL_STATES = frozenset({S.SUSPENDED, S.ENDED, S.FAILED})


class IllegalTransitionError(RuntimeError):
    """The VM tried a move that TRANSITIONS does not list."""

    def __init__(self, state: VMState, event: VMEvent) -> None:
        super().__init__(f"illegal VM transition: {event.name} in state {state.name}")
        self.state = state
        self.event = event


def next_state(state: VMState, event: VMEvent) -> VMState:
    """The state `event` leads to from `state`; IllegalTransitionError if the table has no such move."""
    to = TRANSITIONS.get((state, event))
    if to is None:
        raise IllegalTransitionError(state, event)
    return to
