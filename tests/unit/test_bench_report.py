"""bench/RESULTS.md publishing: the Python-service run and the TypeScript-service run keep each other's section."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.plan import Plan


def _result(service: str, p50: float) -> dict[str, Any]:
    plan = Plan(rounds=1, latency_handlers=["noop"], throughput_handlers=[], recovery=False, service=service)
    figures = {k: p50 for k in plan.figure_keys()}
    rounds: list[dict[str, Any]] = [
        {"server": s, "round": 0, "figures": figures, "errors": {}, "info": {}, "problems": []}
        for s in ("ours", "real")
    ]
    versions = {
        "ours": "commit abc",
        "real": "restate-server 1.7.12",
        "sdk": "x",
        "wrk": "wrk",
        "hypercorn": "h",
        "node": "v20",
    }
    meta = {
        "date": "d",
        "machine": report.machine_info(),
        "versions": versions,
        "command": "c",
        "order": ["ours", "real"],
        "wall_time_s": 1.0,
    }
    result = {"meta": meta, "plan": plan.describe(), "rounds": rounds}
    result["summary"] = report.summarize(plan, rounds)
    return result


def test_a_ts_run_adds_its_section_and_a_python_run_keeps_it() -> None:
    python_run = report.published("", _result("python", 1.25))
    assert report.TS_START not in python_run and "hypercorn" in python_run

    with_ts = report.published(python_run, _result("ts", 7.5))
    assert with_ts.startswith(python_run.rstrip("\n"))  # the Python run's tables stay as they were
    assert with_ts.count(report.TS_START) == 1 and report.TS_TITLE in with_ts
    assert "7.50" in with_ts and "tests/services/ts/bench.ts" in with_ts

    ts_again = report.published(with_ts, _result("ts", 8.5))
    assert ts_again.count(report.TS_START) == 1 and "8.50" in ts_again and "7.50" not in ts_again

    python_again = report.published(ts_again, _result("python", 2.5))
    assert "2.50" in python_again and "1.25" not in python_again
    assert python_again.count(report.TS_START) == 1 and "8.50" in python_again
