"""`python -m bench` (what `make bench` runs): alternating rounds ours / real, then the report."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import report, scale, wrk
from bench.plan import HANDLERS, LATENCY_HANDLERS, SERVERS, SERVICES, Plan
from bench.runner import Round
from tests.sdk_matrix.ts_service import TS_SDK_PACKAGE
from tests.support import OFFICIAL_VENV, OUR_RESTATE_BIN, REAL_SERVER_BIN, REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
README = REPO_ROOT / "README.md"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="~1 minute smoke run: 1 round, ~2 s per workload, a subset")
    p.add_argument("--rounds", type=int, help="rounds per server, alternating ours/real (default 3)")
    p.add_argument("--duration", type=float, help="seconds per throughput run (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of wrk warm-up per throughput handler (default 1; 0: none)")
    p.add_argument("--calls", type=int, help="sequential latency calls per handler (default 300)")
    p.add_argument("--concurrency", help="comma-separated wrk connection counts (default 32,128)")
    p.add_argument("--latency", help=f"latency handlers (default {','.join(LATENCY_HANDLERS)}; 'none')")
    p.add_argument("--throughput", help=f"throughput handlers among {','.join(HANDLERS)} ('none')")
    p.add_argument("--no-recovery", action="store_true", help="skip the kill/recovery figures")
    p.add_argument("--partitions", type=int, help="partitions of both servers (default: CPU cores, at least 2)")
    p.add_argument("--servers", help="ours,real (default both; one of them for debugging)")
    p.add_argument(
        "--service",
        choices=SERVICES,
        help="the official SDK of the benchmark's services: python (default; hypercorn) or ts (Node 20); "
        "a published ts run goes to its own section of bench/RESULTS.md",
    )
    p.add_argument(
        "--only",
        choices=("main", "scale"),
        help="one section: main (latency, throughput, memory, recovery; ~15 min) or scale (bench/scale.py; "
        "~1 h at the default sizes); default both",
    )
    p.add_argument("--scale-inflight", help="scale (a): in-flight invocations, comma-separated (default 10000,50000)")
    p.add_argument("--scale-sql", help="scale (b): stored invocations (default 10000,50000,100000; 'none')")
    p.add_argument("--scale-timers", help="scale (c): pending timers (default 10000,50000; 'none')")
    p.add_argument("--scale-modes", help="scale (a): deployments among http1,bidi (default both)")
    p.add_argument("--scale-slow", type=int, help="scale (d): calls to the slow deployment (default 1000; 0: none)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory (default bench/results)")
    p.add_argument(
        "--publish",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="copy the table to bench/RESULTS.md (default: on for full runs, off for --quick)",
    )
    p.add_argument(
        "--update-readme", action="store_true", help="with --publish: also put the table into README.md (Benchmarks)"
    )
    return p.parse_args(argv)


def build_plan(args: argparse.Namespace) -> Plan:
    plan = Plan.quick_plan() if args.quick else Plan()
    if args.rounds is not None:
        plan.rounds = max(1, args.rounds)
    if args.duration is not None:
        plan.duration_s = max(1.0, args.duration)
    if args.warmup is not None:
        plan.warmup_s = max(0.0, args.warmup)
    if args.calls is not None:
        plan.calls = max(1, args.calls)
    if args.concurrency:
        plan.concurrency = [int(c) for c in _csv(args.concurrency)]
    if args.latency:
        plan.latency_handlers = [] if args.latency == "none" else _csv(args.latency)
    if args.throughput:
        plan.throughput_handlers = [] if args.throughput == "none" else _csv(args.throughput)
    if args.no_recovery:
        plan.recovery = False
    if args.partitions is not None:
        plan.partitions = args.partitions
    if args.servers:
        plan.servers = _csv(args.servers)
    if args.service:
        plan.service = args.service
    unknown = [h for h in plan.latency_handlers + plan.throughput_handlers if h not in HANDLERS]
    unknown += [s for s in plan.servers if s not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown handler/server: {', '.join(unknown)} (handlers: {', '.join(HANDLERS)})")
    return plan


def _sizes(text: str) -> list[int]:
    return [] if text == "none" else [int(t) for t in _csv(text)]


def build_scale_plan(args: argparse.Namespace) -> scale.ScalePlan:
    plan = scale.ScalePlan.quick_plan() if args.quick else scale.ScalePlan()
    if args.rounds is not None:
        plan.rounds = max(1, args.rounds) if args.only == "scale" else plan.rounds
    if args.scale_inflight:
        plan.inflight = _sizes(args.scale_inflight)
    if args.scale_sql:
        plan.sql_sizes = _sizes(args.scale_sql)
    if args.scale_timers:
        plan.timers = _sizes(args.scale_timers)
    if args.scale_modes:
        plan.modes = _csv(args.scale_modes)
    if args.scale_slow is not None:
        plan.slow_n = max(0, args.scale_slow)
    if args.servers:
        plan.servers = _csv(args.servers)
    unknown = [m for m in plan.modes if m not in scale.MODES] + [s for s in plan.servers if s not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown scale mode/server: {', '.join(unknown)} (modes: {', '.join(scale.MODES)})")
    return plan


def preflight(plan: Plan, needs_wrk: bool = True) -> None:
    missing = []
    if plan.service == "ts" and not TS_SDK_PACKAGE.is_file():
        missing.append(f"{TS_SDK_PACKAGE} (run `make setup`)")
    if plan.service == "ts" and shutil.which("node") is None:
        missing.append("node (20+)")
    if not OUR_RESTATE_BIN.exists():
        missing.append(f"{OUR_RESTATE_BIN} (run `make setup`)")
    if not REAL_SERVER_BIN.exists():
        missing.append(f"{REAL_SERVER_BIN} (run `make setup`)")
    if not (OFFICIAL_VENV / "bin" / "hypercorn").exists():
        missing.append(f"{OFFICIAL_VENV}/bin/hypercorn (run `make setup`)")
    try:
        if needs_wrk:
            wrk.wrk_binary()
    except wrk.WrkError as exc:
        missing.append(str(exc))
    if missing:
        raise SystemExit("cannot run the benchmark, missing:\n  " + "\n  ".join(missing))


def versions(service: str = "python") -> dict[str, str]:
    common = {
        "ours": f"commit {report.code_version(REPO_ROOT)}",
        "real": (report.command_output([str(REAL_SERVER_BIN), "--version"]).splitlines() or ["?"])[0],
        "wrk": wrk.wrk_version(),
    }
    if service == "ts":
        try:
            sdk_version = str(json.loads(TS_SDK_PACKAGE.read_text()).get("version", "?"))
        except (OSError, ValueError):
            sdk_version = "?"
        return {**common, "sdk": sdk_version, "node": report.command_output(["node", "--version"])}
    official_python = str(OFFICIAL_VENV / "bin" / "python")
    meta = "import importlib.metadata as m; print(m.version('restate-sdk'), m.version('hypercorn'))"
    sdk = report.command_output([official_python, "-c", meta]).split()
    return {**common, "sdk": sdk[0] if len(sdk) == 2 else "?", "hypercorn": sdk[1] if len(sdk) == 2 else "?"}


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = build_plan(args)
    scale_plan = build_scale_plan(args)
    preflight(plan, needs_wrk=args.only != "scale")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `finally` blocks stop every process we started

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir: Path = args.out
    run_dir = out_dir / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    given = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--update-readme"]
    command = "python -m bench " + shlex.join(given) if given else "make bench"

    def say(text: str) -> None:
        print(text, flush=True)

    load_start = report.loadavg()
    started_with = versions(plan.service)
    t0 = time.monotonic()
    order = [server for _ in range(plan.rounds) for server in plan.servers] if args.only != "scale" else []
    rounds: list[dict[str, Any]] = []
    interrupted = False
    if order:
        say(f"bench: {len(order)} rounds ({' '.join(order)}), logs in {run_dir}")
        interrupted = not _main_rounds(plan, order, run_dir, rounds, say)
    wall = time.monotonic() - t0

    result: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": report.machine_info(),
            "versions": started_with,
            "command": command,
            "order": order,
            "wall_time_s": wall,
            "loadavg_start": load_start,
            "loadavg_end": report.loadavg(),
            "rounds_completed": len(rounds),
        },
    }
    if order:
        result.update(plan=plan.describe(), summary=report.summarize(plan, rounds), rounds=rounds)
    if args.only != "main" and not interrupted:
        result["scale"] = _scale_section(scale_plan, say)
    json_text = json.dumps(result, indent=2, sort_keys=False)
    for name in (f"bench-{stamp}", "latest"):
        (out_dir / f"{name}.json").write_text(json_text)
        (out_dir / f"{name}.md").write_text(report.results_file(result))
    publish = (not plan.quick) if args.publish is None else args.publish
    if publish:
        old = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
        RESULTS_MD.write_text(report.published(old, result))
    tables = []
    if order:
        tables.append((report.markdown(result), report.README_START, report.README_END))
    if "scale" in result:
        tables.append((report.scale_markdown(result), report.SCALE_START, report.SCALE_END))
    for table, start, end in tables:
        # a TypeScript-service run has its own section of RESULTS.md only, not the README's main table
        readme = args.update_readme and publish and (plan.service == "python" or start != report.README_START)
        if readme and not report.update_readme(README, table, start, end):
            say(f"warning: README.md has no {start} marker; not updated")
        say("")
        say(table)
    say(f"wrote {out_dir / f'bench-{stamp}.json'} and .md" + (f", {RESULTS_MD}" if publish else ""))
    say(f"wall time {(time.monotonic() - t0) / 60:.1f} min")
    return 0


def _main_rounds(plan: Plan, order: list[str], run_dir: Path, rounds: list[dict[str, Any]], say: Any) -> bool:
    """The main section's rounds, appended to `rounds`; False when interrupted (the rounds done so far stay)."""
    counts = dict.fromkeys(plan.servers, 0)
    t0 = time.monotonic()
    try:
        for server in order:
            index = counts[server]
            counts[server] += 1
            say(f"== round {index + 1}/{plan.rounds}: {server} ({time.monotonic() - t0:.0f}s elapsed)")
            code = report.code_version(REPO_ROOT)
            rounds.append(Round(server, index, plan, run_dir / f"{server}-r{index + 1}", say).run())
            rounds[-1]["info"]["code"] = code
    except KeyboardInterrupt:
        say("interrupted: writing the rounds done so far")
        return False
    return True


def _scale_section(plan: scale.ScalePlan, say: Any) -> dict[str, Any]:
    """The scale section (bench/scale.py): its rounds, summary, wall time and the load around it."""
    load_start = report.loadavg()
    t0 = time.monotonic()
    say(f"bench: scale section, each part for {', '.join(plan.servers)} in turn")
    rounds = scale.run(plan, say)
    return {
        "plan": plan.describe(),
        "summary": report.summarize(plan, rounds),
        "rounds": rounds,
        "wall_time_s": time.monotonic() - t0,
        "loadavg_start": load_start,
        "loadavg_end": report.loadavg(),
    }
