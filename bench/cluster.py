"""Cluster mode against a single node, same machine, same run: closed-loop throughput and wrk's latency
percentiles for the no-op and the keyed-object workloads (tests/services/bench.py).

    .venv/bin/python -m bench.cluster [--duration 10] [--connections 16] [--partitions 2]
                                      [--appends-in-flight 1,4] [--rounds 2]

"single": `restate up` alone. "cluster": a 3-member etcd cluster and 3 nodes (tests/support), wrk against
the first node's ingress, so requests for partitions led elsewhere take the tcp hop to their leader. Every
server and service runs on this machine: the cluster's 3 nodes and 3 etcd members share its cores.
`--appends-in-flight` compares cluster files with these settings (docs/cluster.md); `--rounds` repeats the
single node and each cluster setting in turn, so a shared machine's load swings hit them alike."""

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


def _cluster(
    root: Path, partitions: int, connections: int, duration_s: float, in_flight: int
) -> dict[str, wrk.WrkResult]:
    etcd = EtcdCluster(root / "etcd")
    nodes: list[ClusterNode] = []
    service = BenchService(root / "logs", "bench-cluster")
    try:
        etcd.start()
        _, nodes = write_cluster(root, etcd.endpoints, ["n1", "n2", "n3"], partitions, "bench", in_flight)
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
    parser.add_argument("--appends-in-flight", default="4", help="cluster settings to compare, e.g. 1,4")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    settings = [int(n) for n in args.appends_in_flight.split(",")]
    runs: dict[str, list[dict[str, wrk.WrkResult]]] = {}
    for turn in range(args.rounds):
        root = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{turn}-"))
        runs.setdefault("single", []).append(_single(root, args.partitions, args.connections, args.duration))
        for n in settings:
            (root / f"c{n}").mkdir()
            result = _cluster(root / f"c{n}", args.partitions, args.connections, args.duration, n)
            runs.setdefault(f"cluster, {n} in flight", []).append(result)
    print(f"wrk -c{args.connections}, {args.duration:.0f} s per workload, {args.rounds} round(s): one column per round")
    print("| workload | setup | ok req/s | p50 ms | p99 ms | errors | cluster/single |")
    print("|---|---|---|---|---|---|---|")
    single = runs["single"]
    for name in WORKLOADS:
        for setup, results in runs.items():
            rows = [r[name] for r in results]
            rps = ", ".join(f"{r.ok_rps:.0f}" for r in rows)
            p50 = ", ".join(f"{r.latency_s.get('p50', 0) * 1000:.0f}" for r in rows)
            p99 = ", ".join(f"{r.latency_s.get('p99', 0) * 1000:.0f}" for r in rows)
            errors = sum(r.error_count for r in rows)
            ratios = [r.ok_rps / s[name].ok_rps if s[name].ok_rps else 0.0 for r, s in zip(rows, single, strict=True)]
            ratio = "" if setup == "single" else ", ".join(f"{x:.2f}" for x in ratios)
            print(f"| {HANDLERS[name].label} | {setup} | {rps} | {p50} | {p99} | {errors} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
