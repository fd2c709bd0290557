"""A node that lost its disk comes back behind the log's trim point: it installs a snapshot of each of its
partitions from a live replica, follows the log from there, and can lead with the exact state (issue 15)."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import PartitionTable
from restate.cluster.placement import read_placement
from restate.cluster.replicated_log import ReplicatedLog
from restate.cluster.shard_swap import MARKER
from restate.ids import partition_for, partition_key_for
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.paths import OUR_RESTATE_BIN
from tests.support.services import ServiceProcess

PARTITIONS = 3  # replication factor 2 (the default): n3 holds 2 of them, copied from 2 different nodes
CLUSTER = "snap"
TRIM_EVERY = 20  # entries (the default is 1000): a few dozen calls trim the log


class Cluster:
    def __init__(self, etcd: EtcdCluster, nodes: list[ClusterNode], cluster_file: Path) -> None:
        self.etcd = etcd
        self.nodes = nodes
        self.cluster_file = cluster_file

    def replicas(self) -> dict[int, list[str]]:
        async def read() -> dict[int, list[str]]:
            etcd = await Etcd.connect(self.etcd.endpoints)
            try:
                return await read_placement(etcd, Layout(CLUSTER))
            finally:
                await etcd.close()

        return asyncio.run(read())

    def log_state(self, node: str) -> list[tuple[int, int, int]]:
        """Per partition: (trim point, last LSN, the LSN `node` reported applied; -1: none)."""

        async def read() -> list[tuple[int, int, int]]:
            etcd = await Etcd.connect(self.etcd.endpoints)
            try:
                layout, found = Layout(CLUSTER), []
                for partition in range(PARTITIONS):
                    log = ReplicatedLog(etcd, layout, partition)
                    applied = await PartitionTable(etcd, layout).applied(partition)
                    found.append((await log.trim_point(), await log.last_lsn(), applied.get(node, -1)))
                return found
            finally:
                await etcd.close()

        return asyncio.run(read())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    etcd = EtcdCluster(tmp_path / "etcd")
    etcd.start()
    names = ["n1", "n2", "n3"]
    service = ServiceProcess(tmp_path / "logs")
    nodes: list[ClusterNode] = []
    try:
        service.start()  # before the nodes' ports are picked: it binds a free port of its own
        cluster_file, nodes = write_cluster(tmp_path, etcd.endpoints, names, PARTITIONS, CLUSTER, trim_every=TRIM_EVERY)
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready(60)
        nodes[0].register(service.url)
        yield Cluster(etcd, nodes, cluster_file)
    finally:
        for node in nodes:
            node.stop(5)
        service.stop()
        etcd.stop()


def _add(node: ClusterNode, key: str, delta: int) -> int:
    answer = node.call(f"Counter/{key}/add", delta)
    assert answer.status_code == 200, (node.name, answer.status_code, answer.text)
    return int(answer.json())


def _wait(condition: str, check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {condition}"
        time.sleep(0.1)


def test_a_wiped_node_installs_snapshots_catches_up_and_leads_with_the_exact_state(cluster: Cluster) -> None:
    n1, n2, n3 = cluster.nodes
    mine = [p for p, replicas in sorted(cluster.replicas().items()) if "n3" in replicas]
    assert len(mine) == 2  # their other replicas are on two different nodes: two sources
    keys = [
        next(f"snap{i}" for i in range(100) if partition_for(partition_key_for(f"snap{i}"), PARTITIONS) == p)
        for p in mine
    ]
    counts = {key: _add(n1, key, 1) for key in keys}
    n3.stop(10)
    shutil.rmtree(n3.base_dir)  # its disk is lost: it comes back empty
    n3.base_dir.mkdir()
    # Once n3's membership lease expires (it is not live), the leaders trim what the other replicas applied.
    deadline = time.monotonic() + 45
    for round_ in itertools.count():
        for key in keys:
            counts[key] = _add(n1 if round_ % 2 else n2, key, 1)
        state = cluster.log_state("n3")
        if all(state[p][0] > 1 for p in mine):
            break
        assert time.monotonic() < deadline, f"the log was never trimmed: {state}"
    ends = {p: cluster.log_state("n3")[p][1] for p in mine}

    n3.process.start()
    n3.wait_ready(60)
    shards = [n3.base_dir / "partitions" / str(p) for p in mine]
    _wait("n3 installed a snapshot of its partitions", lambda: all((s / MARKER).exists() for s in shards))
    _wait("n3 applied the log past its snapshots", lambda: all(cluster.log_state("n3")[p][2] >= ends[p] for p in mine))
    for partition in mine:  # n3 leads its partitions: its shards serve the counters
        command = [OUR_RESTATE_BIN, "cluster", "move-leader", str(partition), "--to", "n3"]
        moved = subprocess.run([*command, "--cluster-config", cluster.cluster_file], capture_output=True, text=True)
        assert moved.returncode == 0, moved.stderr
    for key in keys:
        assert _add(n3, key, 1000) == counts[key] + 1000
        assert _add(n1, key, 1) == counts[key] + 1001
