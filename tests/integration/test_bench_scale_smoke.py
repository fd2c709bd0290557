"""Smoke test of the `scale` section of `make bench` (bench/scale.py) at tiny sizes, our server only.

Runs `python -m bench --only scale --quick --servers ours` into a tmp dir: every part runs (in-flight sleeping
invocations on HTTP/1.1 and bidi with SIGKILL and restart, SQL, pending timers, the slow deployment, the big
object) and every figure of the plan is a number; the table and the targets are written. No timing asserts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale import ScalePlan
from tests.support import REPO_ROOT

HARNESS_TIMEOUT_S = 90


@pytest.mark.timeout(HARNESS_TIMEOUT_S + 20)
def test_scale_section_quick_run_measures_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["--only", "scale", "--quick", "--servers", "ours", "--no-publish", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=HARNESS_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    result = json.loads((out / "latest.json").read_text())
    assert "summary" not in result, "--only scale ran the main section too"
    section = result["scale"]
    plan = ScalePlan.quick_plan()
    keys = [f.key for f in plan.figures()]
    [ours] = section["rounds"]
    assert ours["server"] == "ours"
    assert not ours["problems"], ours["problems"]
    assert sorted(ours["figures"]) == sorted(keys)
    for key, value in ours["figures"].items():
        assert isinstance(value, float) and value >= 0, (key, value)
    # every sleeping invocation was suspended again after the restart, and a new call succeeded after it
    n = plan.inflight[0]
    for mode in ("http1", "bidi"):
        assert ours["figures"][f"a.{mode}.{n}.peak_sockets"] > ours["figures"][f"a.{mode}.{n}.idle_sockets"] > 0
        assert ours["figures"][f"a.{mode}.{n}.resuspended_s"] >= ours["figures"][f"a.{mode}.{n}.restart_s"]
    assert set(section["summary"]) == set(keys)

    table = (out / "latest.md").read_text()
    assert "<!-- bench-scale:start -->" in table and "Scale targets" in table
    assert "Sequential latency" not in table
