"""Three nodes of ours on a 3-member etcd cluster: calls through any node, failover on SIGKILL of a leader
node, a stale (SIGSTOPped) leader fenced (issue 15)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from restate.cluster.etcd_client import Etcd
from restate.cluster.layout import Layout
from restate.cluster.leadership import PartitionState, PartitionTable
from restate.cluster.placement import read_placement
from restate.dashboard.model import parse as parse_metrics
from restate.ids import InvocationId, partition_for, partition_key_for
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.paths import OUR_RESTATE_BIN
from tests.support.services import ServiceProcess

PARTITIONS = 2
CLUSTER = "test"


class Cluster:
    def __init__(self, etcd: EtcdCluster, nodes: list[ClusterNode], side_effects: Path, gate: Path) -> None:
        self.etcd = etcd
        self.nodes = nodes
        self.side_effects = side_effects  # the service's ctx.run steps, one line each
        self.gate = gate  # Steps/slow_three's step 2 waits until this file exists

    def state(self, partition: int) -> PartitionState:
        async def read() -> PartitionState:
            etcd = await Etcd.connect(self.etcd.endpoints)
            try:
                return await PartitionTable(etcd, Layout(CLUSTER)).state(partition)
            finally:
                await etcd.close()

        return asyncio.run(read())

    def replicas(self, partition: int) -> list[str]:
        """The nodes holding a replica of the partition (the placement the nodes wrote to etcd)."""

        async def read() -> list[str]:
            etcd = await Etcd.connect(self.etcd.endpoints)
            try:
                return (await read_placement(etcd, Layout(CLUSTER)))[partition]
            finally:
                await etcd.close()

        return asyncio.run(read())

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def wait_leader(self, partition: int, not_on: str | None = None, timeout_s: float = 30.0) -> PartitionState:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state(partition)
            if state.leader is not None and state.leader != not_on:
                return state
            assert time.monotonic() < deadline, f"no new leader of partition {partition}: {state}"
            time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    etcd = EtcdCluster(tmp_path / "etcd")
    etcd.start()
    side_effects, gate = tmp_path / "side_effects.txt", tmp_path / "gate"
    side_effects.touch()
    service = ServiceProcess(tmp_path / "logs", env={"SIDE_EFFECT_FILE": str(side_effects), "GATE_FILE": str(gate)})
    nodes: list[ClusterNode] = []
    try:
        service.start()  # before the nodes' ports are picked: it binds a free port of its own
        # 4 appends in flight per leader (the default is 1): failover, fencing and restarts with a pipeline
        _, nodes = write_cluster(tmp_path, etcd.endpoints, ["n1", "n2", "n3"], PARTITIONS, CLUSTER, appends_in_flight=4)
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready(60)
        nodes[0].register(service.url)
        yield Cluster(etcd, nodes, side_effects, gate)
    finally:
        for node in nodes:
            node.stop(5)
        service.stop()
        etcd.stop()


def _add(node: ClusterNode, key: str, delta: int) -> int:
    answer = node.call(f"Counter/{key}/add", delta)
    assert answer.status_code == 200, (node.name, answer.status_code, answer.text)
    return int(answer.json())


def test_calls_through_any_node_and_failover_when_the_leader_node_is_killed(cluster: Cluster) -> None:
    key = "k"
    partition = partition_for(partition_key_for(key), PARTITIONS)
    assert [_add(node, key, 1) for node in cluster.nodes] == [1, 2, 3]  # every ingress reaches the leader
    before = cluster.wait_leader(partition)
    replicas = cluster.replicas(partition)  # 2 of the 3 nodes (the default replication factor)
    assert len(replicas) == 2 and before.leader in replicas
    victim = cluster.node(before.leader or "")
    survivors = [n for n in cluster.nodes if n is not victim]

    victim.kill()  # SIGKILL of the whole node: supervisor, admin, ingress, partitions
    started = time.monotonic()
    assert _add(survivors[0], key, 10) == 13  # exactly once: no acknowledged add lost or applied twice
    failover_s = time.monotonic() - started
    print(f"failover (leader node SIGKILL -> first successful call on its key): {failover_s:.2f}s")
    assert _add(survivors[1], key, 100) == 113
    after = cluster.state(partition)
    assert after.leader in set(replicas) - {victim.name} and after.epoch > before.epoch  # the other replica
    assert failover_s < 10.0  # the target is 3 s (lease 2 s); a loaded CI machine gets slack


def test_a_stale_leader_is_fenced_and_becomes_a_follower(cluster: Cluster) -> None:
    key = "stale"
    partition = partition_for(partition_key_for(key), PARTITIONS)
    assert _add(cluster.nodes[0], key, 1) == 1
    before = cluster.wait_leader(partition)
    stale = cluster.node(before.leader or "")
    pid = stale.child_pid(f"p{partition}")
    os.kill(pid, signal.SIGSTOP)  # past its lease: a follower on another node takes over
    try:
        after = cluster.wait_leader(partition, not_on=stale.name)
        assert after.epoch > before.epoch
        other = next(n for n in cluster.nodes if n is not stale)
        assert _add(other, key, 10) == 11
    finally:
        os.kill(pid, signal.SIGCONT)
    # Woken, it finds its lease gone (or its append fenced): it exits and comes back as a follower.
    deadline = time.monotonic() + 30
    while stale.child_pid(f"p{partition}") == pid:
        assert time.monotonic() < deadline, "the stale leader did not step down"
        time.sleep(0.05)
    assert cluster.state(partition).leader == after.leader
    assert _add(stale, key, 100) == 111  # its node still serves, through the new leader


def _load(nodes: list[ClusterNode], keys: list[str], calls_per_key: int, midway: Callable[[], None]) -> dict[str, int]:
    """One thread per key adding 1 `calls_per_key` times through the given nodes in turn; `midway` runs once
    a third of the calls are acknowledged. Every call must succeed; returns the last count of each key."""
    acknowledged = 0
    lock = threading.Lock()
    fired = threading.Event()

    def worker(index: int, key: str) -> int:
        nonlocal acknowledged
        last = 0
        for call in range(calls_per_key):
            last = _add(nodes[(index + call) % len(nodes)], key, 1)
            with lock:
                acknowledged += 1
                due = acknowledged >= len(keys) * calls_per_key // 3 and not fired.is_set()
                if due:
                    fired.set()
            if due:
                midway()
        return last

    with ThreadPoolExecutor(len(keys)) as pool:
        futures = {key: pool.submit(worker, i, key) for i, key in enumerate(keys)}
        return {key: future.result(timeout=120) for key, future in futures.items()}


def test_sigkill_of_a_leader_node_under_load_loses_and_repeats_nothing(cluster: Cluster) -> None:
    victim = cluster.node(cluster.wait_leader(0).leader or "")
    survivors = [n for n in cluster.nodes if n is not victim]
    keys = [f"load{i}" for i in range(6)]  # on both partitions
    assert {partition_for(partition_key_for(k), PARTITIONS) for k in keys} == set(range(PARTITIONS))
    counts = _load(survivors, keys, 15, victim.kill)
    assert counts == dict.fromkeys(keys, 15)  # every add acknowledged exactly once, none lost, none twice
    assert cluster.state(0).leader != victim.name


def test_an_etcd_member_killed_under_load_only_costs_latency(cluster: Cluster) -> None:
    keys = [f"etcd{i}" for i in range(4)]
    counts = _load(cluster.nodes, keys, 12, lambda: cluster.etcd.kill(cluster.etcd.members[0]))
    assert counts == dict.fromkeys(keys, 12)


def test_the_whole_cluster_restarts_and_resumes(cluster: Cluster, tmp_path: Path) -> None:
    assert [_add(n, "again", 1) for n in cluster.nodes] == [1, 2, 3]
    status = subprocess.run(
        [OUR_RESTATE_BIN, "cluster", "status", "--cluster-config", tmp_path / "cluster.toml", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert [(n["name"], n["alive"]) for n in report["nodes"]] == [("n1", True), ("n2", True), ("n3", True)]
    assert [p["leader"] in {"n1", "n2", "n3"} and p["epoch"] >= 1 for p in report["partitions"]] == [True, True]
    leaders = [p["leader"] for p in report["partitions"]]
    for node in cluster.nodes:  # every node's metrics name the leaders (the dashboard's node column)
        deadline = time.monotonic() + 10
        while True:
            scraped = parse_metrics(node.client.get(f"{node.admin_url}/metrics").text, 0.0, 0.0)
            if [getattr(scraped.partitions.get(i), "leader", None) for i in range(PARTITIONS)] == leaders:
                break
            assert time.monotonic() < deadline, f"{node.name}: {scraped.partitions}"
            time.sleep(0.1)
    for node in cluster.nodes:
        node.stop(10)
    for node in cluster.nodes:
        node.process.start()
    for node in cluster.nodes:
        node.wait_ready(60)
    assert _add(cluster.nodes[2], "again", 10) == 13


def test_a_completed_ctx_run_step_is_not_run_again_after_its_leader_node_dies(cluster: Cluster) -> None:
    sent = cluster.nodes[0].send("Steps/slow_three", 1)
    assert sent.status_code == 202, sent.text
    invocation = sent.json()["invocationId"]
    partition = partition_for(InvocationId.parse(invocation).partition_key, PARTITIONS)
    deadline = time.monotonic() + 30
    while f"{invocation} gate2-waiting" not in cluster.side_effects.read_text():  # step 1 is journaled
        assert time.monotonic() < deadline, "step 2 never started"
        time.sleep(0.02)
    victim = cluster.node(cluster.wait_leader(partition).leader or "")
    victim.kill()
    cluster.gate.touch()  # the new leader's attempt replays step 1 and runs steps 2 and 3
    survivor = next(n for n in cluster.nodes if n is not victim)
    answer = survivor.call(f"restate/invocation/{invocation}/attach", method="GET")
    assert answer.status_code == 200 and answer.json() == 4, answer.text
    lines = cluster.side_effects.read_text().splitlines()
    assert lines.count(f"{invocation} step1") == 1  # completed before the crash: never run again
    assert lines.count(f"{invocation} step3") == 1


def test_leadership_moved_by_hand(cluster: Cluster, tmp_path: Path) -> None:
    key = next(f"move{i}" for i in range(100) if partition_for(partition_key_for(f"move{i}"), PARTITIONS) == 0)
    assert _add(cluster.nodes[0], key, 1) == 1
    before = cluster.wait_leader(0)
    target = next(name for name in cluster.replicas(0) if name != before.leader)
    command = [
        OUR_RESTATE_BIN,
        "cluster",
        "move-leader",
        "0",
        "--to",
        target,
        "--cluster-config",
        tmp_path / "cluster.toml",
    ]
    moved = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0, moved.stderr
    after = cluster.state(0)
    assert after.leader == target and after.epoch > before.epoch
    assert moved.stdout.strip() == f"partition 0 is led by {target} (epoch {after.epoch})"
    assert [_add(n, key, 1) for n in cluster.nodes] == [2, 3, 4]  # served by the new leader, from every node
    unknown = subprocess.run([*command[:5], "n9", *command[6:]], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "'n9' is not in the cluster file" in unknown.stderr
    bystander = next(n.name for n in cluster.nodes if n.name not in cluster.replicas(0))
    refused = subprocess.run([*command[:5], bystander, *command[6:]], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and f"'{bystander}' holds no replica of partition 0" in refused.stderr


def test_losing_etcds_majority_stops_progress_and_loses_nothing(cluster: Cluster) -> None:
    assert _add(cluster.nodes[0], "majority", 1) == 1
    members = cluster.etcd.members
    cluster.etcd.kill(members[0])
    cluster.etcd.kill(members[1])  # no quorum: no append can commit
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_add, cluster.nodes[1], "majority", 10)  # waits (re-sent) while etcd is away
        time.sleep(3.0)  # longer than a lease: the partitions lose their leadership too
        assert not pending.done()
        cluster.etcd.restart(members[0])
        cluster.etcd.restart(members[1])
        assert pending.result(timeout=90) == 11  # applied once, after etcd came back
    assert _add(cluster.nodes[2], "majority", 100) == 111


def test_a_node_without_a_replica_serves_calls_and_sql_through_the_leader(cluster: Cluster, tmp_path: Path) -> None:
    key = next(f"by{i}" for i in range(100) if partition_for(partition_key_for(f"by{i}"), PARTITIONS) == 1)
    replicas = cluster.replicas(1)
    bystander = next(n for n in cluster.nodes if n.name not in replicas)
    assert [_add(bystander, key, 1) for _ in range(3)] == [1, 2, 3]  # its ingress routes to the leader
    assert cluster.wait_leader(1).leader in replicas
    # SQL through its admin: the partition's rows come from the leader (this node has no shard of it)
    answer = bystander.client.post(
        f"{bystander.admin_url}/query",
        json={"query": f"SELECT value_utf8 FROM state WHERE service_name = 'Counter' AND service_key = '{key}'"},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert [row["value_utf8"] for row in answer.json()["rows"]] == ["3"]
    # `restate cluster status` shows the replica set; the bystander has no lag (it applies nothing)
    status = subprocess.run(
        [OUR_RESTATE_BIN, "cluster", "status", "--cluster-config", tmp_path / "cluster.toml"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    cells = [[c.strip() for c in line.strip("│┃ ").split("│" if "│" in line else "┃")] for line in lines]
    header = next(row for row in cells if row[0] == "PARTITION")
    row = dict(zip(header, next(row for row in cells if row[0] == "1"), strict=True))
    assert row["REPLICAS"] == ",".join(replicas) and row["LEADER"] in replicas
    assert row[f"LAG {bystander.name}"] == "-"
    report = json.loads(
        subprocess.run(
            [OUR_RESTATE_BIN, "cluster", "status", "--cluster-config", tmp_path / "cluster.toml", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    )
    partition = report["partitions"][1]
    assert partition["replicas"] == replicas and bystander.name not in partition["applied"]
