"""Cluster mode against a single node, same machine, same run: closed-loop throughput and wrk's latency
percentiles for the no-op and the keyed-object workloads (tests/services/bench.py).

    .venv/bin/python -m bench.cluster [--duration 10] [--connections 16] [--partitions 2]
                                      [--appends-in-flight 1,4] [--replication-factors 2,3]
                                      [--append-linger 0ms,2ms] [--real] [--rounds 2]

"single": `restate up` alone. "cluster": a 3-member etcd cluster and 3 nodes (tests/support), wrk against
the first node's ingress, so requests for partitions led elsewhere take the tcp hop to their leader. Every
server and service runs on this machine: the cluster's 3 nodes and 3 etcd members share its cores.
`--appends-in-flight`, `--replication-factors` and `--append-linger` compare cluster files with these
settings (every combination; docs/cluster.md); `--real` adds the real restate-server 1.7.12, a single node
and a 3-node cluster (bench/cluster_real.py: replicated loglet and metadata, 2 replicas); `--rounds`
repeats every setup in turn, so a shared machine's load swings hit them alike. Besides throughput and
latency it prints CPU per request by role (bench/cluster_cpu.py) and ours/real ratios."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import httpx

from bench import wrk
from bench.cluster_cpu import CpuMeter, Groups, appended, cluster_roles, merge, node_groups
from bench.cluster_real import real_cluster
from bench.plan import HANDLERS
from bench.runner import BenchService
from tests.support import OurRestateServer
from tests.support.cluster_nodes import ClusterNode, write_cluster
from tests.support.etcd import EtcdCluster
from tests.support.servers import RealRestateServer, RestateServer

WORKLOADS = ("noop", "object")


Run = dict[str, tuple[wrk.WrkResult, dict[str, float]]]  # workload -> wrk's result, CPU ms per request by role


def _warm_up(url: str, calls: int = 20, deadline_s: float = 60.0) -> None:
    """Connections, the deployment's pool; a cluster's node may learn of the deployment a moment after
    another node registered it (the real server's schema travels through its metadata store): 404 waits."""
    deadline = time.monotonic() + deadline_s
    done = 0
    while done < calls:
        answer = httpx.post(url, json=1, timeout=30)
        if answer.status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        answer.raise_for_status()
        done += 1


def _measure(
    server: RestateServer,
    connections: int,
    duration_s: float,
    groups: Callable[[], Groups],
    appends: Callable[[], int] | None = None,
) -> Run:
    results = {}
    for name in WORKLOADS:
        handler = HANDLERS[name]
        path = handler.path.replace("{key}", "warm")
        _warm_up(f"{server.ingress_url}{path}")
        # after the warm-up: leaders are elected, every process is up
        meter = CpuMeter(groups(), trees=frozenset({"service", "real"}))
        before = 0 if appends is None else appends()
        meter.start()
        result = wrk.run(server.ingress_url, handler.path, keys=handler.keys, connections=connections,
                         duration_s=duration_s)  # fmt: skip
        cpu = meter.stop(result.requests)
        if appends is not None:
            cpu["appends"] = (appends() - before) / max(1, result.requests)  # not ms: etcd appends per request
        results[name] = (result, cpu)
    return results


def _single(root: Path, partitions: int, connections: int, duration_s: float) -> Run:
    service = BenchService(root / "logs", "bench-single")
    server = OurRestateServer(root / "single", root / "logs", partitions=partitions)

    def groups() -> Groups:
        return merge(node_groups(server.base_dir, partitions), {"service": [service.process.pid]})

    try:
        service.start()
        server.start()
        server.register(service.url)
        return _measure(server, connections, duration_s, groups)
    finally:
        server.stop()
        service.stop()


def _cluster(
    root: Path, partitions: int, connections: int, duration_s: float, in_flight: int, factor: int, linger: str
) -> Run:
    etcd = EtcdCluster(root / "etcd")
    nodes: list[ClusterNode] = []
    service = BenchService(root / "logs", "bench-cluster")
    names = ["n1", "n2", "n3"]

    def groups() -> Groups:
        roles = cluster_roles(etcd.endpoints, "bench", names, partitions)
        parts = [node_groups(node.base_dir, partitions, roles[node.name]) for node in nodes]
        return merge(*parts, {"etcd": [m.process.pid for m in etcd.members], "service": [service.process.pid]})

    try:
        etcd.start()
        _, nodes = write_cluster(
            root, etcd.endpoints, names, partitions, "bench", in_flight, replication_factor=factor, append_linger=linger
        )
        service.start()
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready(60)
        nodes[0].register(service.url)
        return _measure(
            nodes[0], connections, duration_s, groups, lambda: appended(etcd.endpoints, "bench", partitions)
        )
    finally:
        for node in nodes:
            node.stop(10)
        service.stop()
        etcd.stop()


def _real_single(root: Path, partitions: int, connections: int, duration_s: float) -> Run:
    service = BenchService(root / "logs", "bench-real-single")
    server = RealRestateServer(root / "real-single", root / "logs", partitions=partitions)
    try:
        service.start()
        server.start()
        server.register(service.url)
        return _measure(server, connections, duration_s, lambda: {"real": [server.process.pid], "service": [
            service.process.pid]})  # fmt: skip
    finally:
        server.stop()
        service.stop()


def _real_cluster(root: Path, partitions: int, connections: int, duration_s: float) -> Run:
    """The real server's 3 nodes, 2 replicas of each partition and of its log (its replicated loglet)."""
    service = BenchService(root / "logs", "bench-real-cluster")
    nodes = real_cluster(root / "real-cluster", partitions, factor=2)
    try:
        service.start()
        for node in nodes:
            node.process.start()
        for node in nodes:
            node.wait_ready()
        nodes[0].register(service.url)
        return _measure(nodes[0], connections, duration_s, lambda: {"real": [n.process.pid for n in nodes],
                                                                    "service": [service.process.pid]})  # fmt: skip
    finally:
        for node in nodes:
            node.stop(10)
        service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per workload")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--appends-in-flight", default="1", help="cluster settings to compare, e.g. 1,4")
    parser.add_argument("--replication-factors", default="2", help="cluster settings to compare, e.g. 2,3")
    parser.add_argument("--append-linger", default="2ms", help="cluster settings to compare, e.g. 0ms,2ms")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--real", action="store_true", help="also the real server: single node, and 3 nodes")
    args = parser.parse_args(argv)
    settings = [
        (int(n), int(f), linger)
        for n in args.appends_in_flight.split(",")
        for f in args.replication_factors.split(",")
        for linger in args.append_linger.split(",")
    ]
    runs: dict[str, list[Run]] = {}
    for turn in range(args.rounds):
        root = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{turn}-"))
        runs.setdefault("single", []).append(_single(root, args.partitions, args.connections, args.duration))
        for n, factor, linger in settings:
            where = root / f"c{n}-r{factor}-{linger}"
            where.mkdir()
            result = _cluster(where, args.partitions, args.connections, args.duration, n, factor, linger)
            runs.setdefault(f"cluster, {n} in flight, {factor} replicas, linger {linger}", []).append(result)
        if args.real:
            runs.setdefault("real single", []).append(
                _real_single(root, args.partitions, args.connections, args.duration)
            )
            runs.setdefault("real cluster, 2 replicas", []).append(
                _real_cluster(root, args.partitions, args.connections, args.duration)
            )
    print(f"wrk -c{args.connections}, {args.duration:.0f} s per workload, {args.rounds} round(s): one column per round")
    print("| workload | setup | ok req/s | p50 ms | p99 ms | errors | cluster/single (each round's ratio) |")
    print("|---|---|---|---|---|---|---|")
    for name in WORKLOADS:
        for setup, results in runs.items():
            single = runs["real single" if setup.startswith("real") else "single"]
            rows = [r[name][0] for r in results]
            rps = ", ".join(f"{r.ok_rps:.0f}" for r in rows)
            p50 = ", ".join(f"{r.latency_s.get('p50', 0) * 1000:.0f}" for r in rows)
            p99 = ", ".join(f"{r.latency_s.get('p99', 0) * 1000:.0f}" for r in rows)
            errors = sum(r.error_count for r in rows)
            ratios = [
                r.ok_rps / s[name][0].ok_rps if s[name][0].ok_rps else 0.0 for r, s in zip(rows, single, strict=True)
            ]
            each = ", ".join(f"{x:.2f}" for x in ratios)
            ratio = "" if setup.endswith("single") else f"{each} (median {median(ratios):.2f})"
            print(f"| {HANDLERS[name].label} | {setup} | {rps} | {p50} | {p99} | {errors} | {ratio} |")
    print()
    print("CPU ms per request by role, and etcd appends per request (median over the rounds):")
    for name in WORKLOADS:
        for setup, results in runs.items():
            last = ("total", "appends")
            roles = sorted({role for r in results for role in r[name][1]}, key=lambda role: role in last)
            cpu = ", ".join(f"{role} {median(r[name][1].get(role, 0.0) for r in results):.2f}" for role in roles)
            print(f"* {HANDLERS[name].label}, {setup}: {cpu}")
    if "real cluster, 2 replicas" in runs:
        print()
        print("Ours against the real server, same rounds (each round's ratio of ok req/s, and the median):")
        for name in WORKLOADS:
            for ours, real in (
                ("single", "real single"),
                (next(k for k in runs if k.startswith("cluster")), "real cluster, 2 replicas"),
            ):
                pairs = zip(runs[ours], runs[real], strict=True)
                ratios = [o[name][0].ok_rps / r[name][0].ok_rps if r[name][0].ok_rps else 0.0 for o, r in pairs]
                each = ", ".join(f"{x:.2f}" for x in ratios)
                print(f"* {HANDLERS[name].label}, {ours} / {real}: {each} (median {median(ratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
