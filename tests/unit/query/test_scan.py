"""restate.admin.query.scan.ZmqScanner: ScanTable out, TableRows back, re-sends and timeouts (real sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from restate.admin.query.scan import ScanUnavailable, ZmqScanner
from restate.ipc.node import Node
from restate.wire import ScanFilter, ScanTable, TableRows


async def _partition(node: Node, drop_first: int, seen: list[ScanTable]) -> None:
    """A fake partition: answers every ScanTable with one row naming the table, after dropping some."""
    while True:
        sender, message = await node.recv()
        assert isinstance(message, ScanTable)
        seen.append(message)
        if len(seen) > drop_first:
            node.send(sender, TableRows(message.request_id, ["table"], [[message.table]]))


def test_scan_answers_and_resends(tmp_path: Path) -> None:
    async def main() -> None:
        partition = Node(tmp_path, "p1")
        partition.bind()
        seen: list[ScanTable] = []
        task = asyncio.create_task(_partition(partition, 1, seen))
        scanner = ZmqScanner(tmp_path, resend_s=0.2, timeout_s=5.0)
        try:
            rows = await scanner.scan(1, "sys_journal", [ScanFilter("id", "in", ["x"])], ["id"], 5)
            assert (rows.columns, rows.values) == (["table"], [["sys_journal"]])
            assert len(seen) == 2 and seen[0] == seen[1]  # the same request (id) sent again
            assert (seen[0].table, seen[0].filters, seen[0].columns, seen[0].limit) == (
                "sys_journal", [ScanFilter("id", "in", ["x"])], ["id"], 5,
            )  # fmt: skip
            both = await asyncio.gather(scanner.scan(1, "a", [], None, None), scanner.scan(1, "b", [], None, None))
            assert [r.values for r in both] == [[["a"]], [["b"]]]  # answers matched by request id
        finally:
            task.cancel()
            await scanner.close()
            partition.close()

    asyncio.run(main())


def test_scan_times_out_without_a_partition(tmp_path: Path) -> None:
    async def main() -> None:
        scanner = ZmqScanner(tmp_path, resend_s=0.1, timeout_s=0.3)
        try:
            with pytest.raises(ScanUnavailable, match="partition 3 did not answer within 0.3s"):
                await scanner.scan(3, "state", [], None, None)
        finally:
            await scanner.close()

    asyncio.run(main())
