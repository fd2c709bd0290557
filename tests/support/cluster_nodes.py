"""Nodes of our server in cluster mode on loopback: a cluster file for N nodes, each `restate up --node-name`."""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path
from typing import Any

from tests.support.etcd import EtcdCluster
from tests.support.net import free_ports
from tests.support.paths import OUR_RESTATE_BIN
from tests.support.procs import ManagedProcess
from tests.support.servers import RestateServer, _clean_env


def free_port_block(size: int, attempts: int = 200) -> int:
    """The first of `size` consecutive free loopback ports (a node's bus range)."""
    for _ in range(attempts):
        base = random.randrange(20000, 60000 - size)
        held: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no block of {size} free ports")


class ClusterNode(RestateServer):
    """One node: its own data directory, ports from the cluster file, `--node-name` and `--cluster-config`."""

    def __init__(self, name: str, base_dir: Path, log_dir: Path, cluster_file: Path, ingress: int, admin: int) -> None:
        self.name = name
        self.ingress_port, self.admin_port = ingress, admin
        self.base_dir = base_dir
        base_dir.mkdir(parents=True, exist_ok=True)
        argv: list[str | os.PathLike[str]] = [
            OUR_RESTATE_BIN, "up", "--base-dir", base_dir, "--node-name", name, "--cluster-config", cluster_file,
        ]  # fmt: skip
        env = {**_clean_env(), "RESTATE_BIND_ADDRESS": ""}
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log", env=env, cwd=base_dir)

    def child_pid(self, name: str) -> int:
        return int((self.base_dir / "pids" / f"{name}.pid").read_text())


def write_cluster(
    root: Path,
    etcd_endpoints: list[str],
    names: list[str],
    partitions: int,
    cluster_name: str = "test",
    appends_in_flight: int | None = None,
    trim_every: int | None = None,
    replication_factor: int | None = None,
    append_linger: str | None = None,
    replace_dead_node_after: str | None = None,
) -> tuple[Path, list[ClusterNode]]:
    """The cluster file of `names` and a (not started) node for each (`appends_in_flight`, `trim_every`,
    `replication_factor`, `append_linger`, `replace_dead_node_after`: the file's settings, the defaults
    when None)."""
    lines = [
        f'cluster-name = "{cluster_name}"',
        "etcd-endpoints = [" + ", ".join(f'"{e}"' for e in etcd_endpoints) + "]",
        f"num-partitions = {partitions}",
        'lease-ttl = "2s"',
    ]
    if appends_in_flight is not None:
        lines.append(f"appends-in-flight = {appends_in_flight}")
    if trim_every is not None:
        lines.append(f"trim-every = {trim_every}")
    if replication_factor is not None:
        lines.append(f"replication-factor = {replication_factor}")
    if append_linger is not None:
        lines.append(f'append-linger = "{append_linger}"')
    if replace_dead_node_after is not None:
        lines.append(f'replace-dead-node-after = "{replace_dead_node_after}"')
    ports = []
    for name in names:
        ingress, admin = free_ports(2)
        bus = free_port_block(3 + partitions)  # admin, ingress, partitions, kafka
        ports.append((ingress, admin))
        lines += [
            f"[nodes.{name}]",
            f'bus-address = "127.0.0.1:{bus}"',
            f'ingress-address = "127.0.0.1:{ingress}"',
            f'admin-address = "127.0.0.1:{admin}"',
        ]
    cluster_file = root / "cluster.toml"
    cluster_file.write_text("\n".join(lines) + "\n")
    nodes = [
        ClusterNode(name, root / name, root / "logs", cluster_file, ingress, admin)
        for name, (ingress, admin) in zip(names, ports, strict=True)
    ]
    return cluster_file, nodes


class ClusterServer(RestateServer):
    """A 3-node cluster (3 etcd members, 3 nodes of ours) behind the one-server interface of the suites:
    admin requests go to the first node, and each ingress request to the next node in turn."""

    def __init__(self, root: Path, log_dir: Path, partitions: int = 4) -> None:
        self.etcd = EtcdCluster(root / "etcd")
        _, self.nodes = write_cluster(root, self.etcd.endpoints, ["n1", "n2", "n3"], partitions)
        self.admin_port = self.nodes[0].admin_port
        self.ingress_port = self.nodes[0].ingress_port
        self._turn = itertools.count()
        self.process = self.nodes[0].process  # for the suites' liveness checks

    @property
    def ingress_url(self) -> str:
        return self.nodes[next(self._turn) % len(self.nodes)].ingress_url

    def start(self) -> ClusterServer:
        self.etcd.start()
        try:
            for node in self.nodes:
                node.process.start()
            for node in self.nodes:
                node.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, deadline_s: float | None = None) -> None:
        for node in self.nodes:
            node.wait_ready(deadline_s)

    def register(self, service_url: str, use_http_11: bool = False, **extra: Any) -> dict[str, Any]:
        """Registers through the first node; the answer comes once every live node serves the new schema,
        so the suites' next calls may go through any node (checked here: a lagging node fails the suite)."""
        result = super().register(service_url, use_http_11, **extra)
        for node in self.nodes[1:]:
            listed = node.client.get(f"{node.admin_url}/deployments").json()["deployments"]
            assert any(d["id"] == result["id"] for d in listed), f"{node.name} does not serve {result['id']} yet"
        return result

    def stop(self, grace_s: float = 20.0) -> int | None:
        self.close_client()
        codes = [node.stop(grace_s) for node in self.nodes]
        self.etcd.stop()
        return codes[0]

    def kill(self) -> None:
        self.close_client()
        for node in self.nodes:
            node.kill()
        self.etcd.stop()
