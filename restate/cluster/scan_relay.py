"""A partition process on a node without a replica of it: SQL scans asked of it go to the partition's leader."""

from __future__ import annotations

from collections.abc import Callable

from restate import wire
from restate.ipc.node import Node

MAX_PENDING = 1024  # scans whose answer is awaited; older ones are forgotten (their asker re-sends)


class ScanRelay:
    """This node's admin asks each partition process of its own node for a table (`POST /query`); where the
    node holds no replica, the process has no shard to read, so it passes the scan to the leader and the
    answer back. Scans are read-only and re-sent by their asker when unanswered: nothing here is kept."""

    def __init__(self, node: Node, leader: Callable[[], str | None]) -> None:
        self.node = node
        self.leader = leader  # the bus name of the partition's leader, None while nobody leads it
        self._askers: dict[int, str] = {}  # request id -> who asked (request ids are unique per asker)

    def forward(self, sender: str, message: wire.ScanTable) -> None:
        peer = self.leader()
        if peer is None:
            return  # nobody leads: the asker re-sends
        self._askers.pop(message.request_id, None)
        self._askers[message.request_id] = sender
        while len(self._askers) > MAX_PENDING:
            del self._askers[next(iter(self._askers))]
        self.node.send(peer, message)

    def answer(self, message: wire.TableRows) -> None:
        asker = self._askers.pop(message.request_id, None)
        if asker is not None:
            self.node.send(asker, message)
