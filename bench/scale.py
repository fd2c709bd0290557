"""The `scale` section of `make bench` (issue 16): its plan, alternating runs of the scale tools, table, targets.

Parts, each run for ours then the real server before the next part (alternating, so a change of the machine's
load hits both): (a) N in-flight invocations sleeping an hour on an HTTP/1.1 and on a bidi deployment, SIGKILL,
restart (bench/scale_invoker.py `sleeping_round`); (f) one key of a 10,000-key object, 3 short alternating runs
(bench/scale_sql.py `state_figures`); (b) SQL over stored invocations, then (c) restart with pending timers
(bench/scale_sql.py `one_round`); (d) a deployment keeping 64 connections and answering after 1 s
(bench/scale_invoker.py `slow_round`).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import scale_invoker, scale_sql
from bench.plan import Figure
from restate.config import Config

MODES = {"http1": "HTTP/1.1 request/response", "bidi": "h2c bidi"}
INFLIGHT = {
    "submit_rps": ("submit rate (64 clients)", "req/s", "higher"),
    "suspended_s": ("all suspended, from the first submit", "s", "lower"),
    "restart_s": ("SIGKILL + start → health", "s", "lower"),
    "first_new_s": ("SIGKILL + start → a new call succeeds", "s", "lower"),
    "resuspended_s": ("SIGKILL + start → all suspended again", "s", "lower"),
    "idle_sockets": ("open sockets of the server's processes, idle", "", "lower"),
    "peak_sockets": ("open sockets of the server's processes, peak", "", "lower"),
    "peak_pss_mb": ("server memory (PSS sum), peak", "MiB", "lower"),
}
SQL_LABELS = {
    "count": "`COUNT(*)`",
    "count_by_status": "counts by status",
    "filtered_limit": "`WHERE target_service_name = 'Bench' LIMIT 10`",
    "filtered_count": "`COUNT(*)` filtered by service and handler",
    "newest_250": "newest 250 (`ORDER BY created_at DESC LIMIT 250`)",
}
SLOW = {
    "submit_rps": ("submit rate", "req/s", "higher"),
    "throughput_rps": ("throughput (N / time until all completed)", "req/s", "higher"),
    "peak_conns": ("peak connections to the deployment", "", "lower"),
    "opened_conns": ("connections opened (refused ones included)", "", "lower"),
    "refused_conns": ("connections the deployment refused", "", "lower"),
}
REPEAT = "#"  # figure key + REPEAT + index: one of the repeated runs of a part, folded into their median
GROWTH_LIMIT = 2.0  # "flat in size": ours' figure at the largest size at most 2x its figure at the smallest
RATIO_LIMIT = 2.0  # (b), (c): within 2x of the real server


@dataclass
class ScalePlan:
    rounds: int = 1
    inflight: list[int] = field(default_factory=lambda: [10_000, 50_000])
    modes: list[str] = field(default_factory=lambda: list(MODES))
    sql_sizes: list[int] = field(default_factory=lambda: [10_000, 50_000, 100_000])
    timers: list[int] = field(default_factory=lambda: [10_000, 50_000])
    slow_n: int = 1000  # part (d): 64 connections x 1 s per call, so at most 64 calls per second
    state_keys: int = 10_000
    state_calls: int = 200
    # (f) is one short server run per round: alternated this many times per server, the median of their p50s
    # (a single run of each server, minutes apart on a shared machine, measured the load more than the servers)
    state_rounds: int = 3
    servers: list[str] = field(default_factory=lambda: ["ours", "real"])
    quick: bool = False

    @classmethod
    def quick_plan(cls) -> ScalePlan:
        """Tiny sizes (seconds per part): a smoke run of the section, not figures to compare."""
        return cls(inflight=[50], sql_sizes=[50, 100], timers=[50], slow_n=32, state_keys=100, state_calls=10,
                   state_rounds=1, quick=True)  # fmt: skip

    def figures(self) -> list[Figure]:
        out: list[Figure] = []
        for mode in self.modes:
            for n in self.inflight:
                for key, (label, unit, better) in INFLIGHT.items():
                    out.append(Figure(f"a.{mode}.{n}.{key}", f"(a) {MODES[mode]}, N = {n:,}: {label}", unit, better))
        for name, label in SQL_LABELS.items():
            for size in self.sql_sizes:
                out.append(Figure(f"sql.{name}.{size}", f"(b) {label}, {size:,} stored", "ms", "lower"))
        for size in self.timers:
            out.append(Figure(f"timers.restart_health_s.{size}", f"(c) {size:,} pending timers: SIGKILL + start → "
                              "health", "s", "lower"))  # fmt: skip
            out.append(Figure(f"timers.restart_first_call_s.{size}", f"(c) {size:,} pending timers: SIGKILL + start → "
                              "first call", "s", "lower"))  # fmt: skip
        for key, (label, unit, better) in SLOW.items() if self.slow_n else ():
            out.append(Figure(f"slow.{key}", f"(d) N = {self.slow_n:,}, 64 connections, 1 s per call: {label}", unit,
                              better))  # fmt: skip
        keys = f"{self.state_keys:,}-key"
        if self.state_keys:
            out.append(Figure("state.p50_ms", f"(f) one state key of a {keys} object: p50", "ms", "lower"))
            out.append(Figure("state.p90_ms", f"(f) one state key of a {keys} object: p90", "ms", "lower"))
        return out

    def describe(self) -> dict[str, object]:
        return dataclasses.asdict(self)


# --- running -------------------------------------------------------------------------------


def _inflight_part(plan: ScalePlan, mode: str, n: int) -> Callable[[str, Path], dict[str, float]]:
    def run(kind: str, base: Path) -> dict[str, float]:
        figures = scale_invoker.sleeping_round(kind, n, base, bidi=mode == "bidi")
        return {f"a.{mode}.{n}.{k}": v for k, v in figures.items() if k in INFLIGHT}

    return run


def _sql_part(plan: ScalePlan) -> Callable[[str, Path], dict[str, float]]:
    def run(kind: str, base: Path) -> dict[str, float]:
        raw = scale_sql.one_round(kind, plan.sql_sizes, plan.timers, base, state_keys=0)
        figures = {k: v * 1000 for k, v in raw.items() if k.startswith("sql.")}  # seconds → ms
        figures.update({k: v for k, v in raw.items() if k.startswith("timers.")})
        return figures

    return run


def _state_part(plan: ScalePlan, index: int) -> Callable[[str, Path], dict[str, float]]:
    """One of the (f) runs: `state.p50_ms#index` (run() keeps the median over the indexes as `state.p50_ms`)."""

    def run(kind: str, base: Path) -> dict[str, float]:
        raw = scale_sql.with_server(
            kind, base, lambda server: scale_sql.state_figures(server, plan.state_keys, plan.state_calls)
        )
        return {f"state.p50_ms{REPEAT}{index}": raw["state10k.p50_s"] * 1000,
                f"state.p90_ms{REPEAT}{index}": raw["state10k.p90_s"] * 1000}  # fmt: skip

    return run


def _slow_part(plan: ScalePlan) -> Callable[[str, Path], dict[str, float]]:
    def run(kind: str, base: Path) -> dict[str, float]:
        return {f"slow.{k}": v for k, v in scale_invoker.slow_round(kind, plan.slow_n, base).items()}

    return run


def parts(plan: ScalePlan) -> list[tuple[str, Callable[[str, Path], dict[str, float]]]]:
    """(name, run(kind, work dir) -> figures) in the order they run."""
    out = [(f"(a) {mode} N={n}", _inflight_part(plan, mode, n)) for mode in plan.modes for n in plan.inflight]
    if plan.state_keys:
        out += [(f"(f) state {i + 1}/{plan.state_rounds}", _state_part(plan, i)) for i in range(plan.state_rounds)]
    if plan.sql_sizes or plan.timers:
        out.append(("(b) SQL, (c) timers", _sql_part(plan)))
    if plan.slow_n:
        out.append(("(d) slow deployment", _slow_part(plan)))
    return out


def run(plan: ScalePlan, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every part for each server in turn (ours, real), `plan.rounds` times; one result per server and round.
    A part that fails records its error for its figures and the run goes on. Each part runs in a temporary
    directory (data and logs, removed after: 100,000 stored invocations would fill bench/results)."""
    results = {(kind, i): _empty_round(kind, i) for i in range(plan.rounds) for kind in plan.servers}
    t0 = time.monotonic()
    for index in range(plan.rounds):
        for name, part in parts(plan):
            for kind in plan.servers:
                say(f"== scale {name}: {kind}, round {index + 1}/{plan.rounds} ({time.monotonic() - t0:.0f}s elapsed)")
                found = results[(kind, index)]
                started = time.monotonic()
                try:
                    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{kind}-") as tmp:
                        figures = part(kind, Path(tmp))
                    found["figures"].update({k: float(v) for k, v in figures.items()})
                    say("    " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()))
                except Exception as exc:  # noqa: BLE001 - the other parts and the other server go on
                    error = f"{type(exc).__name__}: {exc}"
                    found["problems"].append({"server": kind, "round": index, "workload": f"scale {name}",
                                              "error": error, "fatal": True})  # fmt: skip
                    say(f"    !! {name}: {error}")
                found["info"][f"wall_s {name}"] = time.monotonic() - started
    keys = [f.key for f in plan.figures()]
    for found in results.values():
        fold_repeats(found)
        for key in keys:
            if key not in found["figures"]:
                found["errors"][key] = next((p["error"] for p in found["problems"]), "not measured")
    return list(results.values())


def fold_repeats(found: dict[str, Any]) -> None:
    """Figures of repeated runs (`key#i`) become their median under `key`; the runs' values go to info."""
    repeated: dict[str, list[float]] = {}
    for key in [k for k in found["figures"] if REPEAT in k]:
        repeated.setdefault(key.split(REPEAT)[0], []).append(found["figures"].pop(key))
    for key, values in repeated.items():
        found["figures"][key] = statistics.median(values)
        found["info"][f"{key} runs"] = values


def _empty_round(kind: str, index: int) -> dict[str, Any]:
    return {"server": kind, "round": index, "figures": {}, "errors": {}, "info": {}, "problems": []}


# --- targets -------------------------------------------------------------------------------


def invoker_limit() -> int:
    """Our default worker.invoker.concurrent-invocations-limit (per partition)."""
    return Config().invoker_concurrency


def socket_bound() -> int:
    """Sockets ours may hold above idle in part (a): every partition's concurrent attempts (one connection
    each at most; the tools run 2 partitions) plus the 64 submitting clients."""
    return 2 * invoker_limit() + scale_invoker.SUBMIT_CLIENTS


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def targets(plan: ScalePlan, summary: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(target, the figures it is judged on, met; None: not measured) for each target of issue 16."""
    out: list[tuple[str, str, bool | None]] = []

    def value(key: str, server: str = "ours") -> float | None:
        entry = summary.get(key)
        return None if entry is None else entry[server]

    def ratio_at_most(key: str, limit: float) -> tuple[str, bool | None]:
        ours, real = value(key), value(key, "real")
        if ours is None or real is None:
            return "not measured", None
        return f"{_fmt(ours)} vs {_fmt(real)}", ours <= limit * real

    for mode in plan.modes:
        for n in plan.inflight:
            for fig in ("first_new_s", "resuspended_s"):
                text, met = ratio_at_most(f"a.{mode}.{n}.{fig}", 1.0)
                out.append((f"(a) {MODES[mode]}, N = {n:,}: {INFLIGHT[fig][0]}, ours ≤ real", text, met))
            peak, idle = value(f"a.{mode}.{n}.peak_sockets"), value(f"a.{mode}.{n}.idle_sockets")
            bound = socket_bound()
            met = None if peak is None or idle is None else peak - idle <= bound
            text = "not measured" if met is None else f"{peak:.0f} - {idle:.0f} idle"
            out.append((f"(a) {MODES[mode]}, N = {n:,}: ours' sockets above idle ≤ {bound:,} (limits)", text, met))
    for name, label in SQL_LABELS.items():
        out += _sized(f"(b) {label}", [f"sql.{name}.{s}" for s in plan.sql_sizes], value, ratio_at_most)
    for fig, label in (("restart_health_s", "restart → health"), ("restart_first_call_s", "restart → first call")):
        out += _sized(f"(c) {label}", [f"timers.{fig}.{s}" for s in plan.timers], value, ratio_at_most)
    if plan.slow_n:
        ours, real = value("slow.throughput_rps"), value("slow.throughput_rps", "real")
        if ours is None or real is None:
            out.append(("(d) slow deployment: ours' throughput ≥ real's", "not measured", None))
        else:
            out.append(
                ("(d) slow deployment: ours' throughput ≥ real's", f"{_fmt(ours)} vs {_fmt(real)}", ours >= real)
            )
        text, met = ratio_at_most("slow.opened_conns", 1.0)
        out.append(("(d) slow deployment: connections ours opened (refused ones included) ≤ real's", text, met))
    text, met = ratio_at_most("state.p50_ms", 1.0)
    out.append(("(f) one key of a big object, p50: ours ≤ real", text, met))
    return out


def _sized(
    label: str,
    keys: list[str],
    value: Callable[[str], float | None],
    ratio_at_most: Callable[[str, float], tuple[str, bool | None]],
) -> list[tuple[str, str, bool | None]]:
    """(b)/(c): within RATIO_LIMIT of the real server at every size, and ours flat in size."""
    if not keys:
        return []
    checks = [ratio_at_most(k, RATIO_LIMIT) for k in keys]
    met: bool | None = None if any(m is None for _, m in checks) else all(bool(m) for _, m in checks)
    out = [(f"{label}: ours ≤ {RATIO_LIMIT:g}× real at every size", "; ".join(t for t, _ in checks), met)]
    first, last = value(keys[0]), value(keys[-1])
    if len(keys) > 1:
        target = f"{label}: flat, ours at the largest size ≤ {GROWTH_LIMIT:g}× the smallest"
        if first is None or last is None:
            out.append((target, "not measured", None))
        else:
            out.append((target, f"{_fmt(first)} → {_fmt(last)}", last <= GROWTH_LIMIT * first))
    return out
