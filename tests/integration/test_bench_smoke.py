"""Smoke test of the benchmark harness (`bench/`, `make bench`) in its quickest mode.

Runs `python -m bench --quick --only main` (one round per server, ~2 s per workload, a subset of the
workloads) into a tmp dir and checks the shape of the result: every planned figure is present for
both servers (as a number, or for ours possibly as a recorded error), medians and ratios are
computed, and the markdown table is written. It never asserts on speed. The scale section has its own smoke test
(test_bench_scale_smoke.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.plan import Plan
from tests.support import REPO_ROOT

HARNESS_TIMEOUT_S = 110


@pytest.mark.timeout(HARNESS_TIMEOUT_S + 20)
def test_bench_quick_run_reports_both_servers(tmp_path: Path) -> None:
    # `make setup` installs wrk; without it this test must fail, not vanish
    assert shutil.which("wrk") is not None, "wrk is not installed (apt-get install -y wrk); see README, Benchmarks"
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "main", "--no-publish", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=HARNESS_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    result = json.loads((out / "latest.json").read_text())
    plan = Plan.quick_plan()
    keys = plan.figure_keys()
    assert result["plan"]["quick"] is True
    assert [r["server"] for r in result["rounds"]] == ["ours", "real"]
    assert result["meta"]["order"] == ["ours", "real"]
    assert result["meta"]["machine"]["cpus"] >= 1

    for rnd in result["rounds"]:
        for key in keys:
            recorded = key in rnd["figures"] or bool(rnd["errors"].get(key))
            assert recorded, f"{rnd['server']}: {key} neither measured nor recorded as an error"
        for key, value in rnd["figures"].items():
            assert isinstance(value, float) and value >= 0, (rnd["server"], key, value)

    real = next(r for r in result["rounds"] if r["server"] == "real")
    assert not real["errors"], f"the real server failed workloads: {real['errors']}"

    summary = result["summary"]
    assert set(summary) == set(keys)
    for key in keys:
        entry = summary[key]
        for field in ("ours", "real", "ratio", "unit", "better", "ours_failures", "real_failures"):
            assert field in entry, (key, field)
        assert isinstance(entry["real"], float), (key, entry)
        if entry["ours"] is None:
            assert entry["ours_error"], (key, entry)
            assert entry["ratio"] is None
        elif entry["real"] == 0:  # e.g. an idle CPU figure of exactly 0
            assert entry["ratio"] is None
        else:
            assert entry["ratio"] == pytest.approx(entry["ours"] / entry["real"]), (key, entry)

    table = (out / "latest.md").read_text()
    assert "ours/real" in table and "Sequential latency" in table and "Closed-loop throughput" in table
    assert list(out.glob("bench-*.json")) and list(out.glob("run-*/ours-r1/*.log"))


TS_TIMEOUT_S = 30


@pytest.mark.timeout(TS_TIMEOUT_S + 20)
def test_bench_ts_service_flavour_runs(tmp_path: Path) -> None:
    """`--service ts`: the same workloads against the TypeScript SDK's bench.ts (tiny run, both servers)."""
    assert shutil.which("wrk") is not None, "wrk is not installed (apt-get install -y wrk); see README, Benchmarks"
    out = tmp_path / "results"
    argv = ["--service", "ts", "--quick", "--only", "main", "--no-publish", "--out", str(out), "--calls", "5"]
    argv += ["--duration", "1"]
    # no-op for the closed loop: under a loaded machine one fan-out call can take longer than the 1 s run
    argv += ["--latency", "noop,object", "--throughput", "noop", "--no-recovery"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=TS_TIMEOUT_S
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    result = json.loads((out / "latest.json").read_text())
    assert result["plan"]["service"] == "ts"
    assert result["meta"]["versions"]["sdk"] == "1.17.2"
    for rnd in result["rounds"]:
        assert not rnd["errors"], f"{rnd['server']} failed with the TypeScript service: {rnd['errors']}"
        assert rnd["figures"]["latency.object.p50_ms"] > 0
        assert rnd["figures"]["throughput.noop.c32.rps"] > 0
    assert list(out.glob("run-*/ours-r1/svc-ts-bench-h2c-*.log"))
    assert "restate-sdk 1.17.2 (tests/services/ts/bench.ts) on Node" in (out / "latest.md").read_text()


@pytest.mark.timeout(TS_TIMEOUT_S + 20)
def test_latency_stages_breaks_a_call_down() -> None:
    """`python -m bench.latency_stages` (tiny): the stage table of a no-op call with the TypeScript service."""
    argv = ["--handlers", "noop", "--calls", "5", "--warmup", "2"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.latency_stages", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TS_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    out = proc.stdout
    assert "calls took this path" in out
    for stage in ("client: request sent", "ingress: request in", "partition: committed", "invoker: HTTP/2 read"):
        assert f"| {stage} |" in out, out
