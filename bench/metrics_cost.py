"""`python -m bench.metrics_cost`: CPU of one no-op invocation's metric updates in a partition, written
directly (prometheus-client's multi-process values) or pending and published once a second (docs/latency.md)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any


def _sequence(partition: Any, invoker: Any, direct: bool) -> Callable[[], None]:
    """The updates a no-op invocation makes: two batches (Invoke; Output + End) and one attempt."""

    def pick(value: Any) -> Any:
        return value._child if direct else value  # the prometheus-client child under the pending value

    commands, batch_size, fsync = pick(partition.commands), pick(partition.batch_size), pick(partition.fsync)
    entries, success = pick(partition.journal_entries), pick(partition.success)
    invoked = pick(partition.invocations["invoked"])
    invoker.response("dp_bench", 200)
    enqueue, started, completed = pick(invoker.enqueue), pick(invoker.started), pick(invoker.completed)
    duration, response = pick(invoker.duration), pick(invoker._responses[("dp_bench", 200)])

    def one() -> None:
        for batch in (1, 2):
            commands.inc(batch)
            batch_size.observe(batch)
            entries.inc(batch)
            fsync.observe(0.0003)
            invoked.set(2 - batch)
        enqueue.inc()
        started.inc()
        response.inc()
        success.inc()
        completed.inc()
        duration.observe(0.002)

    return one


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    p.add_argument("--invocations", type=int, default=20000, help="per round (default 20000)")
    p.add_argument("--per-second", type=int, default=300, help="invocations between two publishes (default 300)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of each (default 3)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="metrics-cost-") as tmp:
        from restate import metrics

        metrics.setup_multiprocess(tmp)
        partition, invoker = metrics.PartitionMetrics(0), metrics.InvokerMetrics(0)
        for _ in range(args.rounds):
            for direct in (True, False):
                one = _sequence(partition, invoker, direct)
                started = time.process_time()
                for i in range(args.invocations):
                    one()
                    if not direct and i % args.per_second == args.per_second - 1:
                        partition.publish()
                        invoker.publish()
                cpu_us = (time.process_time() - started) / args.invocations * 1e6
                print(f"{'direct' if direct else 'pending'}: {cpu_us:.1f} µs CPU per invocation", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
