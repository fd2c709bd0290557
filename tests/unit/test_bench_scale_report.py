"""bench/report.py and bench/scale.py: the scale section's targets, and RESULTS.md keeping the section a run skipped."""

from __future__ import annotations

from typing import Any

from bench import report, scale

MAIN_TEXT = "Run 2026-01-01 (main tables)"


def _entry(ours: float | None, real: float | None) -> dict[str, Any]:
    return {"ours": ours, "real": real}


def test_targets_judge_ratios_growth_and_the_socket_bound() -> None:
    plan = scale.ScalePlan(inflight=[10], modes=["http1"], sql_sizes=[10, 100], timers=[], state_keys=1)
    summary = {f.key: _entry(None, None) for f in plan.figures()}
    summary["a.http1.10.first_new_s"] = _entry(0.5, 0.6)
    summary["a.http1.10.resuspended_s"] = _entry(0.7, 0.6)
    summary["a.http1.10.idle_sockets"] = _entry(30, 10)
    summary["a.http1.10.peak_sockets"] = _entry(30 + scale.socket_bound() + 1, 100)
    summary["sql.count.10"] = _entry(3.0, 2.0)
    summary["sql.count.100"] = _entry(5.0, 2.0)
    summary["sql.filtered_limit.10"] = _entry(1.0, 1.0)
    summary["sql.filtered_limit.100"] = _entry(2.5, 9.0)
    summary["state.p50_ms"] = _entry(1.0, 1.0)
    summary["slow.throughput_rps"] = _entry(5.0, 20.0)
    summary["slow.opened_conns"] = _entry(64, 64)
    met = {target: ok for target, _, ok in scale.targets(plan, summary)}

    def find(*words: str) -> bool | None:
        [key] = [t for t in met if all(w in t for w in words)]
        return met[key]

    assert find("new call succeeds") is True
    assert find("suspended again") is False
    assert find("sockets above idle") is False  # one more than every partition's attempts + the clients
    assert find("`COUNT(*)`:", "every size") is False  # 5.0 > 2 x 2.0
    assert find("`COUNT(*)`:", "flat") is True  # 3.0 -> 5.0
    assert find("LIMIT 10", "every size") is True
    assert find("LIMIT 10", "flat") is False  # 1.0 -> 2.5
    assert find("counts by status", "every size") is None  # not measured
    assert find("(f)") is True  # equal is at most 1.0
    assert find("(d)", "throughput") is False
    assert find("(d)", "connections") is True


def _result(main: bool, scale_text: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"meta": {}}
    if main:
        result["summary"] = {}
        result["plan"] = {"service": "python"}
    if scale_text:
        result["scale"] = {}
    return result


def test_published_keeps_the_section_a_run_did_not_measure(monkeypatch: Any) -> None:
    monkeypatch.setattr(report, "markdown", lambda result, heading="###": "MAIN NEW\n")
    monkeypatch.setattr(report, "scale_markdown", lambda result: "SCALE NEW")
    before = report.RESULTS_TITLE + MAIN_TEXT + "\n"  # the main tables only, as before the scale section

    only_scale = report.published(before, _result(main=False, scale_text=True))
    assert only_scale.startswith(before.rstrip("\n"))  # the main tables stay as they were
    assert only_scale.index(MAIN_TEXT) < only_scale.index(report.SCALE_START) < only_scale.index("SCALE NEW")

    only_main = report.published(only_scale, _result(main=True, scale_text=False))
    assert "MAIN NEW" in only_main and "SCALE NEW" in only_main and MAIN_TEXT not in only_main
    assert only_main.count(report.SCALE_START) == 1

    both = report.published(only_main, _result(main=True, scale_text=True))
    assert both.count(report.SCALE_START) == 1 and both.count("SCALE NEW") == 1 and "MAIN NEW" in both
    assert report.results_file(_result(main=False, scale_text=True)).count("SCALE NEW") == 1


def test_repeated_runs_fold_into_their_median() -> None:
    found: dict[str, Any] = {"figures": {"state.p50_ms#0": 9.0, "state.p50_ms#1": 3.0, "state.p50_ms#2": 5.0,
                                         "sql.count.10": 1.0}, "info": {}}  # fmt: skip
    scale.fold_repeats(found)
    assert found["figures"] == {"state.p50_ms": 5.0, "sql.count.10": 1.0}
    assert found["info"]["state.p50_ms runs"] == [9.0, 3.0, 5.0]


def test_the_state_part_runs_alternately_state_rounds_times() -> None:
    names = [name for name, _ in scale.parts(scale.ScalePlan(inflight=[], state_rounds=3))]
    assert names == ["(f) state 1/3", "(f) state 2/3", "(f) state 3/3", "(b) SQL, (c) timers", "(d) slow deployment"]


def test_scale_options_shape_the_plan() -> None:
    from bench import cli

    args = cli.parse_args(["--only", "scale", "--scale-inflight", "none", "--scale-sql", "none", "--scale-timers",
                           "100", "--scale-slow", "0", "--rounds", "2"])  # fmt: skip
    plan = cli.build_scale_plan(args)
    assert (plan.inflight, plan.sql_sizes, plan.timers, plan.slow_n, plan.rounds) == ([], [], [100], 0, 2)
    names = [name for name, _ in scale.parts(plan)]
    assert names == ["(f) state 1/3", "(f) state 2/3", "(f) state 3/3", "(b) SQL, (c) timers"]
    assert not any(f.key.startswith(("a.", "slow.", "sql.")) for f in plan.figures())
