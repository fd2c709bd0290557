"""A node lost for good: its replica moved to the third node with `restate cluster move-replica`, which
copies the shard from the surviving replica; then that replica's node is lost too, and the moved replica
serves the exact state (issue 15)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from restate.ids import partition_for, partition_key_for
from tests.cluster.test_snapshot_nodes import Cluster
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.paths import OUR_RESTATE_BIN
from tests.support.services import ServiceProcess

CLUSTER = "snap"  # the name Cluster (test_snapshot_nodes) reads
TRIM_EVERY = 20  # entries: a few dozen calls trim the log, so the new replica needs a snapshot


@contextlib.contextmanager
def _cluster(tmp_path: Path, replace_dead_node_after: str | None) -> Iterator[Cluster]:
    etcd = EtcdCluster(tmp_path / "etcd")
    etcd.start()
    service = ServiceProcess(tmp_path / "logs")
    nodes: list[ClusterNode] = []
    try:
        service.start()  # before the nodes' ports are picked: it binds a free port of its own
        # One partition, replicas n1, n2 (the default factor 2): n3 holds none.
        names = ["n1", "n2", "n3"]
        cluster_file, nodes = write_cluster(
            tmp_path, etcd.endpoints, names, 1, CLUSTER, trim_every=TRIM_EVERY,
            replace_dead_node_after=replace_dead_node_after,
        )  # fmt: skip
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


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with _cluster(tmp_path, None) as started:
        yield started


@pytest.fixture
def self_healing_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with _cluster(tmp_path, "4s") as started:
        yield started


def _cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [OUR_RESTATE_BIN, "cluster", *args, "--cluster-config", str(cluster.cluster_file)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _leader(cluster: Cluster) -> str | None:
    leader = json.loads(_cli(cluster, "status", "--json").stdout)["partitions"][0]["leader"]
    return None if leader is None else str(leader)


def _alive(cluster: Cluster, node: str) -> bool:
    status = json.loads(_cli(cluster, "status", "--json").stdout)
    return bool(next(n for n in status["nodes"] if n["name"] == node)["alive"])


def _add(node: ClusterNode, key: str, delta: int) -> int:
    answer = node.call(f"Counter/{key}/add", delta)
    assert answer.status_code == 200, (node.name, answer.status_code, answer.text)
    return int(answer.json())


def _wait(condition: str, check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {condition}"
        time.sleep(0.1)


def test_a_lost_nodes_replica_moved_to_another_node_takes_over_when_the_last_original_is_lost(
    cluster: Cluster,
) -> None:
    n1, n2, n3 = cluster.nodes
    assert cluster.replicas() == {0: ["n1", "n2"]}
    assert partition_for(partition_key_for("moved"), 1) == 0
    count = _add(n3, "moved", 1)
    # A live leader's replica: the leadership moves to the other replica first, then the replica moves; and
    # back again (n1's kept shard continues from the log).
    assert _cli(cluster, "move-leader", "0", "--to", "n1").returncode == 0
    moved = _cli(cluster, "move-replica", "0", "--from", "n1", "--to", "n3")
    assert moved.returncode == 0 and "replicas n3, n2" in moved.stdout, moved.stderr
    assert _leader(cluster) == "n2" and cluster.replicas() == {0: ["n3", "n2"]}
    count = _add(n1, "moved", 1)
    assert _cli(cluster, "move-replica", "0", "--from", "n3", "--to", "n1").returncode == 0
    assert cluster.replicas() == {0: ["n1", "n2"]}
    count = _add(n3, "moved", 1)
    end = cluster.log_state("n1")[0][1]
    _wait("n1's replica is back and applied the log", lambda: cluster.log_state("n1")[0][2] >= end)
    assert count == 3

    n1.kill()  # lost for good: its node never comes back
    _wait("n1 is not live (its membership lease expired)", lambda: not _alive(cluster, "n1"), 30)

    # The surviving replica is the only copy: it cannot be the one that goes.
    refused = _cli(cluster, "move-replica", "0", "--from", "n2", "--to", "n3")
    assert refused.returncode != 0 and "refusing to drop 'n2'" in refused.stderr, refused.stderr
    for args, message in [
        (["1", "--from", "n1", "--to", "n3"], "partition 1 does not exist"),
        (["0", "--from", "n9", "--to", "n3"], "'n9' is not in the cluster file"),
        (["0", "--from", "n3", "--to", "n1"], "'n3' holds no replica of partition 0"),
        (["0", "--from", "n1", "--to", "n2"], "'n2' already holds a replica of partition 0"),
    ]:
        wrong = _cli(cluster, "move-replica", *args)
        assert wrong.returncode != 0 and message in wrong.stderr, (args, wrong.stderr)

    # Calls while n1 is dead: n2 leads (after n1's lease) and trims behind itself alone.
    deadline = time.monotonic() + 45
    while cluster.log_state("n1")[0][0] <= 1:
        count = _add(n2 if count % 2 else n3, "moved", 1)
        assert time.monotonic() < deadline, f"the log was never trimmed: {cluster.log_state('n1')}"

    # Two operators at once: exactly one move wins, the other is told why it did nothing.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        moves = list(pool.map(lambda _: _cli(cluster, "move-replica", "0", "--from", "n1", "--to", "n3"), range(2)))
    assert sorted(m.returncode == 0 for m in moves) == [False, True], [(m.stdout, m.stderr) for m in moves]
    loser = next(m for m in moves if m.returncode != 0)
    assert "changed meanwhile" in loser.stderr or "holds no replica" in loser.stderr, loser.stderr
    assert cluster.replicas() == {0: ["n3", "n2"]}

    status = json.loads(_cli(cluster, "status", "--json").stdout)
    assert status["partitions"][0]["replicas"] == ["n3", "n2"]
    end = cluster.log_state("n3")[0][1]
    _wait("n3's new replica applied the log", lambda: cluster.log_state("n3")[0][2] >= end)
    assert "n1" not in json.loads(_cli(cluster, "status", "--json").stdout)["partitions"][0]["applied"]

    n2.kill()  # the other original replica is lost too: the moved one takes over
    assert _add(n3, "moved", 1000) == count + 1000


def test_a_node_dead_longer_than_replace_dead_node_after_loses_its_replica_to_a_live_node(
    self_healing_cluster: Cluster,
) -> None:
    cluster = self_healing_cluster
    n1, n2, n3 = cluster.nodes
    assert cluster.replicas() == {0: ["n1", "n2"]}
    count = _add(n3, "healed", 1)
    n1.kill()
    killed = time.monotonic()
    _wait("n2's leader moved n1's replica to n3", lambda: cluster.replicas() == {0: ["n3", "n2"]}, 60)
    assert time.monotonic() - killed >= 4  # not before the node was dead for replace-dead-node-after
    count = _add(n2, "healed", 1)
    end = cluster.log_state("n3")[0][1]
    _wait("n3's new replica applied the log", lambda: cluster.log_state("n3")[0][2] >= end)
    n2.kill()  # the other original replica is lost too: the new one takes over
    assert _add(n3, "healed", 1000) == count + 1000
