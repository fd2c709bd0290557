"""Kafka records into invocations per second: our server (or the real one) consuming a topic from Tansu.

    .venv/bin/python -m bench.kafka_throughput [--records 20000] [--partitions 1 2] [--sink service|object]
                                               [--server ours|real]

The records are produced first; then one subscription reads them from the start. The rate is measured
between the first record consumed and the last one made a durable invocation (ours:
restate_kafka_invocations_created_total; the real server: restate_kafka_ingress_requests_total, which it
counts once a record's invocation is appended), on one machine with the broker and the sink service."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.kafka_broker import TansuBroker

OURS_METRIC = "restate_kafka_invocations_created_total"
REAL_METRIC = "restate_kafka_ingress_requests_total"
CONSUMED = "restate_kafka_ingress_requests_total"


def _sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def _metrics_url(server: RestateServer, node_port: int | None) -> str:
    return f"http://127.0.0.1:{node_port}/metrics" if node_port else f"{server.admin_url}/metrics"


def run(records: int, partitions: int, sink: str, which: str, root: Path) -> float:
    with TansuBroker(root / "logs") as broker:
        broker.create_topic("bench", 1)
        keys = [f"k{i}".encode() for i in range(100)]
        broker.produce("bench", [(keys[i % 100], f"v{i}".encode()) for i in range(records)])
        config = root / "restate.toml"
        config.write_text(f'[[ingress.kafka-clusters]]\nname = "tansu"\nbrokers = ["{broker.bootstrap}"]\n')
        with ServiceProcess(root / "logs", "kafka_sinks") as svc:
            node_port = None
            server: RestateServer
            if which == "ours":
                server = OurRestateServer(root / "data", root / "logs", partitions, env={"RESTATE_CONFIG": str(config)})
                metric = OURS_METRIC
            else:
                server = RealRestateServer(root / "data", root / "logs", partitions,
                                           env={"RESTATE_CONFIG": str(config)})  # fmt: skip
                node_port, metric = server.fabric_port, REAL_METRIC  # type: ignore[attr-defined]
            with server:
                server.register(svc.url)
                target = "service://KSvc/raw" if sink == "service" else "service://KObj/add"
                body = {"source": "kafka://tansu/bench", "sink": target, "options": {"auto.offset.reset": "earliest"}}
                assert server.client.post(f"{server.admin_url}/subscriptions", json=body).status_code == 201
                url = _metrics_url(server, node_port)
                started = done = None
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    text = httpx.get(url, timeout=10).text
                    now = time.monotonic()
                    if started is None and _sum(text, CONSUMED) > 0:
                        started = now
                    if _sum(text, metric) >= records:
                        done = now
                        break
                    time.sleep(0.05)
                assert started is not None and done is not None, "not every record became an invocation in time"
                return records / max(done - started, 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sink", choices=("service", "object"), default="service")
    parser.add_argument("--server", choices=("ours", "real"), default="ours")
    args = parser.parse_args()
    for count in args.partitions:
        with tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp:
            rate = run(args.records, count, args.sink, args.server, Path(tmp))
        print(f"{args.server}: {args.records} records, {args.sink} sink, {count} partition(s): {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
