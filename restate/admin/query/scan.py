"""Reading tables from the partitions: `wire.ScanTable` out, `wire.TableRows` back, over ZeroMQ.

The query engine talks to the partitions through its own bus identity (`admin-query`), apart from
admin's control traffic (schema publishing, invocation commands): a large scan never delays those,
and the answers are correlated here. Scans are read-only, so a request that is not answered in time
is simply sent again with the same id (a restarted partition lost it); duplicate answers are ignored.
No DataFusion here: the admin app imports this module for its hook type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Protocol

from restate import wire
from restate.ipc.node import Node, partition_name
from restate.wire import ScanFilter, ScanTable, TableRows

log = logging.getLogger(__name__)

QUERY_NODE = "admin-query"
RESEND_S = 5.0  # a scan of a large table takes a while: re-send rarely (each copy is answered)
TIMEOUT_S = 10.0  # below the official CLI's 13 s request timeout, so it sees our 503


class ScanUnavailable(Exception):
    """A partition did not answer a scan in time."""


class Scanner(Protocol):
    """Reads one table of one partition (`ZmqScanner`, or a fake over local stores in tests)."""

    async def scan(
        self,
        partition: int,
        table: str,
        filters: list[ScanFilter],
        columns: list[str] | None,
        limit: int | None,
        order: tuple[str, bool] | None = None,
    ) -> TableRows: ...


class ZmqScanner:
    """Sends ScanTable requests to partitions `p<i>` and resolves each with its TableRows.

    The socket is bound on first use, in the running event loop (admin's)."""

    def __init__(
        self, base_dir: str | Path, *, name: str = QUERY_NODE, resend_s: float = RESEND_S, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.base_dir = base_dir
        self.name = name
        self.resend_s = resend_s
        self.timeout_s = timeout_s
        self._node: Node | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[TableRows]] = {}
        self._next_id = time.time_ns() // 1000

    def _start(self) -> Node:
        if self._node is None:
            node = Node(self.base_dir, self.name)
            node.bind()
            self._node = node
            self._receiver = asyncio.get_running_loop().create_task(self._receive(node))
        return self._node

    async def _receive(self, node: Node) -> None:
        while True:
            sender, message = await node.recv()
            if isinstance(message, TableRows):
                future = self._pending.get(message.request_id)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                log.warning("%s: ignoring unexpected %s from %s", self.name, type(message).__name__, sender)

    async def scan(
        self,
        partition: int,
        table: str,
        filters: list[ScanFilter],
        columns: list[str] | None,
        limit: int | None,
        order: tuple[str, bool] | None = None,
    ) -> TableRows:
        node = self._start()
        request_id = self._next_id
        self._next_id += 1
        order_by, descending = order if order is not None else (None, False)
        payload = wire.encode(ScanTable(request_id, table, filters, columns, limit, order_by, descending))
        peer = partition_name(partition)
        future: asyncio.Future[TableRows] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                node.send_raw(peer, payload)
                wait = min(self.resend_s, deadline - time.monotonic())
                try:
                    return await asyncio.wait_for(asyncio.shield(future), max(wait, 0.0))
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        reason = f"partition {partition} did not answer within {self.timeout_s:g}s"
                        raise ScanUnavailable(reason) from None
                    log.info("re-sending scan %d of %s to %s", request_id, table, peer)
        finally:
            self._pending.pop(request_id, None)

    async def close(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)
            self._receiver = None
        if self._node is not None:
            self._node.close()
            self._node = None
