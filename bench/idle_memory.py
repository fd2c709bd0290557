"""Memory of an idle server: PSS summed over the supervisor's process tree after start-up, and the CPU it took.

Usage: .venv/bin/python -m bench.idle_memory [--runs 3] [--partitions 2]
(what `restate up` occupies before any work: which children run, and what each holds)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.procstats import tree_cpu_seconds, tree_pids, tree_pss_bytes, wait_quiet
from tests.support import OurRestateServer

MIB = 2**20


def measure(partitions: int) -> tuple[float, float, int, float]:
    """(seconds to ready, CPU seconds of the tree, processes, PSS sum MiB) of a fresh server, once it is quiet."""
    root = Path(tempfile.mkdtemp(prefix="idle-memory-"))
    server = OurRestateServer(root / "data", root / "logs", partitions=partitions)
    t0 = time.monotonic()
    server.start()
    started = time.monotonic() - t0
    try:
        pid = server.process.pid
        wait_quiet(lambda: [pid], max_s=20.0)
        return started, tree_cpu_seconds(pid), len(tree_pids(pid)), tree_pss_bytes(pid) / MIB
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    for run in range(args.runs):
        started, cpu, processes, pss = measure(args.partitions)
        print(f"run {run}: ready in {started:.2f} s, start-up CPU {cpu:.2f} s, {processes} processes, "
              f"PSS sum {pss:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
