"""What a benchmark run measures: handlers, workloads, parameters and the figures they produce.

Every figure has a key (e.g. `throughput.noop.c32.rps`), a unit and a direction. Each round of each
server records every planned key, either as a number (`figures`) or as an error (`errors`); the
summary holds the median over rounds per server and the ratio ours/real.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Handler:
    name: str
    label: str
    path: str  # ingress path; "{key}" is replaced by a key drawn from `keys` keys
    keys: int = 0  # 0: the path has no key (or a fixed one)
    invocations_per_call: int = 1  # for CPU per 1000 invocations (fanout10: itself + 10 calls)


HANDLERS: dict[str, Handler] = {
    h.name: h
    for h in (
        Handler("noop", "no-op", "/Bench/noop"),
        Handler("steps3", "3 × ctx.run", "/Bench/steps3"),
        Handler("object", "object get+set, 1000 keys", "/BenchObject/{key}/getset", keys=1000),
        Handler("sleep10", "durable sleep 10 ms", "/Bench/sleep10"),
        Handler("fanout10", "10 parallel calls to a no-op", "/Bench/fanout10", invocations_per_call=11),
        Handler("object_1key", "object get+set, 1 key (serialized)", "/BenchObject/hot/getset"),
    )
}

LATENCY_HANDLERS = ["noop", "steps3", "object"]
THROUGHPUT_HANDLERS = ["noop", "steps3", "object", "sleep10", "fanout10", "object_1key"]
PERCENTILES = ("p50", "p90", "p99")
SERVERS = ("ours", "real")
# The official SDK the benchmark's services run on: Python (tests/services/bench.py under hypercorn) or
# TypeScript (tests/services/ts/bench.ts on Node, far cheaper per request: more of the server's own cost shows).
SERVICES = ("python", "ts")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"


@dataclass
class Plan:
    rounds: int = 3
    calls: int = 300  # sequential latency calls per handler
    latency_warmup_calls: int = 10
    latency_deadline_s: float = 90.0  # per handler; a slow server stops early (recorded as an error)
    latency_handlers: list[str] = field(default_factory=lambda: list(LATENCY_HANDLERS))
    duration_s: float = 10.0  # per throughput run
    warmup_s: float = 1.0  # one wrk warm-up per throughput handler (not measured)
    concurrency: list[int] = field(default_factory=lambda: [32, 128])
    throughput_handlers: list[str] = field(default_factory=lambda: list(THROUGHPUT_HANDLERS))
    idle_s: float = 2.0  # idle RSS / CPU window after start-up
    recovery: bool = True
    # Both servers get our server's default: one partition (process) per core, at least 2.
    partitions: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    wrk_threads: int = 2
    servers: list[str] = field(default_factory=lambda: list(SERVERS))
    service: str = "python"  # one of SERVICES
    quick: bool = False

    @classmethod
    def quick_plan(cls) -> Plan:
        """~1 minute smoke run: one round each, ~2 s per workload, a subset of the workloads."""
        return cls(
            rounds=1,
            calls=30,
            latency_warmup_calls=3,
            latency_deadline_s=20.0,
            duration_s=2.0,
            warmup_s=0.0,
            concurrency=[32],
            throughput_handlers=["noop", "sleep10", "object_1key"],
            idle_s=1.0,
            quick=True,
        )

    def figures(self) -> list[Figure]:
        out: list[Figure] = []
        for h in self.latency_handlers:
            for p in PERCENTILES:
                out.append(Figure(f"latency.{h}.{p}_ms", f"{HANDLERS[h].label}: {p}", "ms", "lower"))
        for h in self.throughput_handlers:
            for c in self.concurrency:
                base = f"throughput.{h}.c{c}"
                label = f"{HANDLERS[h].label}, c={c}"
                out.append(Figure(f"{base}.rps", f"{label}: req/s", "req/s", "higher"))
                out.append(Figure(f"{base}.p50_ms", f"{label}: p50", "ms", "lower"))
                out.append(Figure(f"{base}.p99_ms", f"{label}: p99", "ms", "lower"))
                out.append(Figure(f"{base}.cpu_s_per_1k", f"{label}: server CPU s / 1000 invocations", "s", "lower"))
        out.append(Figure("resources.idle_pss_mb", "server memory (PSS sum), idle (after start-up)", "MiB", "lower"))
        out.append(Figure("resources.peak_pss_mb", "server memory (PSS sum), peak (under load)", "MiB", "lower"))
        out.append(Figure("resources.idle_rss_mb", "server RSS sum, idle (after start-up)", "MiB", "lower"))
        out.append(Figure("resources.peak_rss_mb", "server RSS sum, peak (under load)", "MiB", "lower"))
        out.append(Figure("resources.idle_cpu_pct", "server CPU when idle", "% of a core", "lower"))
        out.append(Figure("startup.ready_s", "`up` → health endpoints answer", "s", "lower"))
        out.append(Figure("startup.cold_start_s", "cold start: `up` → first successful invocation", "s", "lower"))
        if self.recovery:
            out.append(
                Figure(
                    "recovery.s",
                    "recovery: ours SIGKILL of one partition, real SIGKILL + restart of the server → "
                    "its invocations run again",
                    "s",
                    "lower",
                )
            )
            whole = "SIGKILL + restart of the whole server → invocations run"
            out.append(Figure("recovery.whole_server_s", whole, "s", "lower"))
        return out

    def figure_keys(self) -> list[str]:
        return [f.key for f in self.figures()]

    def describe(self) -> dict[str, object]:
        return dataclasses.asdict(self)
