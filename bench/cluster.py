"""Cluster mode against a single node, same machine, same run: closed-loop throughput and wrk's latency
percentiles for the no-op and the keyed-object workloads (tests/services/bench.py).

    .venv/bin/python -m bench.cluster [--duration 10] [--connections 16] [--partitions 2]

"single": `restate up` alone. "cluster": a 3-member etcd cluster and 3 nodes (tests/support), wrk against
the first node's ingress, so requests for partitions led elsewhere take the tcp hop to their leader. Every
server and service runs on this machine: the cluster's 3 nodes and 3 etcd members share its cores."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from bench import wrk
from bench.plan import HANDLERS
from bench.runner import BenchService
from tests.support import OurRestateServer
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.servers import RestateServer

WORKLOADS = ("noop", "object")


def _measure(server: RestateServer, connections: int, duration_s: float) -> dict[str, wrk.WrkResult]:
    results = {}
    for name in WORKLOADS:
        handler = HANDLERS[name]
        path = handler.path.replace("{key}", "warm")
        for _ in range(20):  # warm-up: connections, the deployment's pool
            answer = httpx.post(f"{server.ingress_url}{path}", json=1, timeout=30)
            answer.raise_for_status()
        results[name] = wrk.run(server.ingress_url, handler.path, keys=handler.keys, connections=connections,
                                duration_s=duration_s)  # fmt: skip
    return results


def _single(root: Path, partitions: int, connections: int, duration_s: float) -> dict[str, wrk.WrkResult]:
    service = BenchService(root / "logs", "bench-single")
    server = OurRestateServer(root / "single", root / "logs", partitions=partitions)
    try:
        service.start()
        server.start()
        server.register(service.url)
        return _measure(server, connections, duration_s)
    finally:
        server.stop()
        service.stop()


def _cluster(root: Path, partitions: int, connections: int, duration_s: float) -> dict[str, wrk.WrkResult]:
    etcd = EtcdCluster(root / "etcd")
    nodes: list[ClusterNode] = []
    service = BenchService(root / "logs", "bench-cluster")
    try:
        etcd.start()
        _, nodes = write_cluster(root, etcd.endpoints, ["n1", "n2", "n3"], partitions, "bench")
        service.start()
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready(60)
        nodes[0].register(service.url)
        return _measure(nodes[0], connections, duration_s)
    finally:
        for node in nodes:
            node.stop(10)
        service.stop()
        etcd.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per workload")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    runs = {
        "single": _single(root, args.partitions, args.connections, args.duration),
        "cluster": _cluster(root, args.partitions, args.connections, args.duration),
    }
    print(f"wrk -c{args.connections}, {args.duration:.0f} s per workload")
    print("| workload | setup | ok req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name in WORKLOADS:
        for setup, results in runs.items():
            r = results[name]
            p50, p99 = r.latency_s.get("p50", 0) * 1000, r.latency_s.get("p99", 0) * 1000
            print(f"| {HANDLERS[name].label} | {setup} | {r.ok_rps:.0f} | {p50:.1f} | {p99:.1f} | {r.error_count} |")
    single, cluster = runs["single"], runs["cluster"]
    for name in WORKLOADS:
        ratio = cluster[name].ok_rps / single[name].ok_rps if single[name].ok_rps else 0.0
        print(f"{name}: cluster/single throughput = {ratio:.2f}")
    print(f"logs: {root / 'logs'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
