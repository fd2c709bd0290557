"""Where a cluster's CPU goes during a bench run: CPU time per request of each role (etcd, partition
leaders, followers, bystanders, ingress, admin, service), read from /proc, so a change's effect shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.procstats import process_cpu_seconds, tree_cpu_seconds
from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import PartitionTable
from restate.cluster.placement import read_placement
from restate.cluster.replicated_log import ReplicatedLog

Groups = dict[str, list[int]]  # role -> the pids whose CPU counts for it


def _pid(base_dir: Path, name: str) -> int | None:
    try:
        return int((base_dir / "pids" / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def node_groups(base_dir: Path, partitions: int, roles: dict[int, str] | None = None) -> dict[str, list[int]]:
    """A node's processes by role; `roles`: partition -> "leaders" / "followers" / "bystanders"
    (single node: every partition is "partitions")."""
    groups: dict[str, list[int]] = {}
    for name in ("ingress", "admin"):
        pid = _pid(base_dir, name)
        if pid is not None:
            groups.setdefault(name, []).append(pid)
    for p in range(partitions):
        pid = _pid(base_dir, f"p{p}")
        if pid is not None:
            groups.setdefault("partitions" if roles is None else roles[p], []).append(pid)
    return groups


def cluster_roles(
    endpoints: list[str], cluster_name: str, nodes: list[str], partitions: int
) -> dict[str, dict[int, str]]:
    """node -> partition -> its role there, from etcd's placement and partition table."""

    async def read() -> dict[str, dict[int, str]]:
        etcd = await Etcd.connect(endpoints)
        try:
            layout = Layout(cluster_name)
            placement = await read_placement(etcd, layout)
            table = PartitionTable(etcd, layout)
            leaders = {p: (await table.state(p)).leader for p in range(partitions)}
        finally:
            await etcd.close()
        return {
            node: {
                p: "leaders" if leaders[p] == node else "followers" if node in placement.get(p, []) else "bystanders"
                for p in range(partitions)
            }
            for node in nodes
        }

    return asyncio.run(read())


def appended(endpoints: list[str], cluster_name: str, partitions: int) -> int:
    """How many entries the partitions' logs hold in all (their last LSNs): appends between two readings."""

    async def read() -> int:
        etcd = await Etcd.connect(endpoints)
        try:
            layout = Layout(cluster_name)
            return sum([await ReplicatedLog(etcd, layout, p).last_lsn() for p in range(partitions)])
        finally:
            await etcd.close()

    return asyncio.run(read())


def merge(*parts: dict[str, list[int]]) -> dict[str, list[int]]:
    merged: dict[str, list[int]] = {}
    for part in parts:
        for role, pids in part.items():
            merged.setdefault(role, []).extend(pids)
    return merged


class CpuMeter:
    """CPU seconds of each role between `start` and `stop` (a process that restarts meanwhile is missed)."""

    def __init__(self, groups: dict[str, list[int]], trees: frozenset[str] = frozenset({"service"})) -> None:
        self.groups = groups
        self.trees = trees  # roles whose processes' children count too (hypercorn's workers)
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        read = {role: tree_cpu_seconds if role in self.trees else process_cpu_seconds for role in self.groups}
        return {role: sum(read[role](pid) for pid in pids) for role, pids in self.groups.items()}

    def start(self) -> None:
        self._start = self._read()

    def stop(self, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request of each role, and "total"."""
        end = self._read()
        per = {role: (end[role] - self._start[role]) * 1000 / max(1, requests) for role in self.groups}
        per["total"] = sum(per.values())
        return per
