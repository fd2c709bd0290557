"""Medians over rounds, ratios ours/real, the JSON result and the markdown tables."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench.plan import HANDLERS, PERCENTILES, Plan

README_START = "<!-- bench-results:start -->"
README_END = "<!-- bench-results:end -->"
# bench/RESULTS.md: a run with the TypeScript service (`--service ts`) is published between these markers,
# which a run with the Python service keeps as they are (and vice versa).
TS_START = "<!-- bench-ts:start -->"
TS_END = "<!-- bench-ts:end -->"
TS_TITLE = "## (e) The existing workloads with the TypeScript service"


# --- summary -------------------------------------------------------------------------------


def summarize(plan: Plan, rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per figure: the median of each server's rounds, its per-round values, failures and the ratio."""
    summary: dict[str, dict[str, Any]] = {}
    for fig in plan.figures():
        entry: dict[str, Any] = {"label": fig.label, "unit": fig.unit, "better": fig.better}
        for server in ("ours", "real"):
            mine = [r for r in rounds if r["server"] == server]
            values = [r["figures"][fig.key] for r in mine if fig.key in r["figures"]]
            errors = [r["errors"][fig.key] for r in mine if fig.key in r["errors"]]
            entry[server] = statistics.median(values) if values else None
            entry[f"{server}_rounds"] = values
            entry[f"{server}_failures"] = len(errors)
            entry[f"{server}_error"] = errors[0] if errors else None
        ours, real = entry["ours"], entry["real"]
        entry["ratio"] = ours / real if ours is not None and real not in (None, 0) else None
        summary[fig.key] = entry
    return summary


def throughput_errors(rounds: list[dict[str, Any]], server: str, base: str) -> int:
    """Non-2xx responses + socket errors of one throughput run, summed over a server's rounds."""
    return sum(int(r["info"].get(base, {}).get("errors", 0)) for r in rounds if r["server"] == server)


# --- machine / versions --------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"), re.M)
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "os": os_name.group(1) if os_name else platform.system(),
        "python": platform.python_version(),
    }


def loadavg() -> str:
    """1/5/15-minute load averages (the machine is shared: other work shows up here)."""
    return " ".join(_read("/proc/loadavg").split()[:3])


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB RAM, {m['os']}, "
        f"Linux {m['kernel']}, Python {m['python']}"
    )


def code_version(repo: Path) -> str:
    """The commit of our server's code, plus a hash of uncommitted changes to restate/ and cli/ (the
    working tree may change while a run is under way; each round records what it ran)."""
    commit = command_output(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "restate", "cli"], capture_output=True, timeout=20, cwd=repo
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return commit
    return f"{commit} + local changes {hashlib.sha1(diff).hexdigest()[:8]}" if diff else commit


def command_output(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    return (out.stdout or out.stderr).strip()


# --- markdown ------------------------------------------------------------------------------


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(entry: dict[str, Any], server: str, n_rounds: int) -> str:
    value = entry[server]
    failures = entry[f"{server}_failures"]
    if value is None:
        return "FAIL" if failures else "—"
    text = _num(value)
    if failures:
        text += f" ({n_rounds - failures}/{n_rounds})"
    return text


def _ratio(entry: dict[str, Any]) -> str:
    r = entry["ratio"]
    if r is None:
        return "—"
    return f"{r:,.0f}×" if r >= 100 else f"{r:.2f}×"


def _triple(entry: dict[str, Any], n_rounds: int) -> list[str]:
    return [_cell(entry, "ours", n_rounds), _cell(entry, "real", n_rounds), _ratio(entry)]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _latency_section(plan: Plan, summary: dict[str, dict[str, Any]], heading: str) -> list[str]:
    if not plan.latency_handlers:
        return []
    out = [f"{heading} Sequential latency (ms, {plan.calls} calls, one keep-alive HTTP/1.1 connection)", ""]
    header = ["handler"]
    for p in PERCENTILES:
        header += [f"{p} ours", f"{p} real", "ours/real"]
    rows = []
    for h in plan.latency_handlers:
        row = [HANDLERS[h].label]
        for p in PERCENTILES:
            row += _triple(summary[f"latency.{h}.{p}_ms"], plan.rounds)
        rows.append(row)
    return out + _table(header, rows) + [""]


def _throughput_sections(
    plan: Plan, summary: dict[str, dict[str, Any]], rounds: list[dict[str, Any]], heading: str
) -> list[str]:
    if not plan.throughput_handlers:
        return []
    n = plan.rounds
    out = [
        f"{heading} Closed-loop throughput (wrk -t{plan.wrk_threads}, {plan.duration_s:g} s per run; "
        "wrk's latency percentiles, ms)",
        "",
    ]
    header = ["handler", "conc.", "req/s ours", "req/s real", "ours/real", "p50 ours", "p50 real", "ours/real",
              "p99 ours", "p99 real", "ours/real", "errors ours / real"]  # fmt: skip
    rows = []
    cpu_rows = []
    for h in plan.throughput_handlers:
        for c in plan.concurrency:
            base = f"throughput.{h}.c{c}"
            row = [HANDLERS[h].label, str(c)]
            for k in ("rps", "p50_ms", "p99_ms"):
                row += _triple(summary[f"{base}.{k}"], n)
            row.append(f"{throughput_errors(rounds, 'ours', base)} / {throughput_errors(rounds, 'real', base)}")
            rows.append(row)
            cpu_rows.append([HANDLERS[h].label, str(c)] + _triple(summary[f"{base}.cpu_s_per_1k"], n))
    out += _table(header, rows) + [""]
    out += [f"{heading} Server CPU seconds per 1000 invocations (whole process tree, during the runs above)", ""]
    out += _table(["handler", "conc.", "ours", "real", "ours/real"], cpu_rows) + [""]
    return out


_OTHER_FIGURES = (
    "resources.idle_pss_mb",
    "resources.peak_pss_mb",
    "resources.idle_rss_mb",
    "resources.peak_rss_mb",
    "resources.idle_cpu_pct",
    "startup.ready_s",
    "startup.cold_start_s",
    "recovery.s",
    "recovery.whole_server_s",
)

NOTES = (
    "Notes: memory is sampled every 100 ms over the server's process tree (peak: over the latency and "
    "throughput workloads). PSS sum: each process's proportional set size (a page shared by k processes "
    "counts 1/k in each), so the sum is the memory the tree occupies; RSS sum: VmRSS added up, which "
    "counts a shared page once per process. The real server is one process (the two are close); ours "
    "forks its children from the supervisor, which has loaded their code, so they share those pages "
    "and the RSS sum counts them once per process. The real server is a single process, so its *recovery* figure is "
    "SIGKILL of the whole server + restart; ours is SIGKILL of one partition process (the supervisor "
    "restarts it), measured to the first successful call on an object key of that partition. "
    "`fanout10` counts as 11 invocations. A cell `x (k/n)` is the median of the k rounds out of n that "
    "succeeded; FAIL: no round succeeded (see below)."
)


def _problems_section(rounds: list[dict[str, Any]], heading: str) -> list[str]:
    problems = [p for r in rounds for p in r["problems"]]
    out = [f"{heading} Failures and errors", ""]
    if not problems:
        out.append("None: every workload of every round completed without errors.")
    for p in problems:
        first = p["error"].splitlines()[0][:400] if p["error"] else ""
        out.append(f"- **{p['server']}** round {p['round'] + 1}, {p['workload']}: {first}")
        excerpt = [line[:300] for line in p.get("server_log_excerpt", "").splitlines()[:4]]
        if excerpt:
            out += ["", "  ```"] + [f"  {line}" for line in excerpt] + ["  ```"]
    return out + [""]


def markdown(result: dict[str, Any], heading: str = "###") -> str:
    """The result tables (without a top-level title): meta lines, tables, notes, failures."""
    plan = Plan(**result["plan"])
    summary: dict[str, dict[str, Any]] = result["summary"]
    rounds: list[dict[str, Any]] = result["rounds"]
    meta = result["meta"]
    v = meta["versions"]
    codes = [f"{r['server']} r{r['round'] + 1}: {r['info'].get('code', '?')}" for r in rounds if r["server"] == "ours"]
    ours_code = v["ours"]
    if len({c.split(": ", 1)[1] for c in codes}) > 1:
        ours_code += "; the code changed during the run (" + ", ".join(codes) + ")"
    out = [
        f"Run {meta['date']} on {machine_line(meta['machine'])}. "
        f"Median of {plan.rounds} alternating round(s) per server ({', '.join(meta['order'])}); wall time "
        f"{meta['wall_time_s'] / 60:.1f} min; load average before/after {meta.get('loadavg_start', '?')} / "
        f"{meta.get('loadavg_end', '?')}; `{meta['command']}`.",
        "",
        f"ours: `restate up` ({ours_code}); real: {v['real']}; service: {_service_line(plan, v)}, registered over "
        f"h2c; {plan.partitions} partitions each; load: {v['wrk']}. "
        "Ratio = ours / real (latency, time, CPU, memory: lower is better for ours; req/s: higher is better).",
        "",
    ]
    out += _latency_section(plan, summary, heading)
    out += _throughput_sections(plan, summary, rounds, heading)
    rows = [
        [f"{summary[k]['label']} ({summary[k]['unit']})"] + _triple(summary[k], plan.rounds)
        for k in _OTHER_FIGURES
        if k in summary
    ]
    out += [f"{heading} Memory, start-up and recovery", ""]
    out += _table(["figure", "ours", "real", "ours/real"], rows) + ["", NOTES, ""]
    out += _problems_section(rounds, heading)
    return "\n".join(out)


def _service_line(plan: Plan, v: dict[str, str]) -> str:
    if plan.service == "ts":
        sdk, node = v.get("sdk", "?"), v.get("node", "?")
        return f"official @restatedev/restate-sdk {sdk} (tests/services/ts/bench.ts) on Node {node}"
    return f"official restate-sdk {v.get('sdk', '?')} under hypercorn {v.get('hypercorn', '?')}"


def results_file(result: dict[str, Any]) -> str:
    title = "# Benchmark results (latest run)\n\nGenerated by `make bench` (see README.md, Benchmarks).\n\n"
    return title + markdown(result)


def _ts_block(text: str) -> str:
    start, end = text.find(TS_START), text.find(TS_END)
    return text[start : end + len(TS_END)] if 0 <= start < end else ""


def published(old: str, result: dict[str, Any]) -> str:
    """bench/RESULTS.md after a published run: a Python-service run replaces the file but keeps its
    TypeScript section; a TypeScript-service run replaces only that section (added at the end if missing)."""
    if result["plan"].get("service", "python") != "ts":
        kept = _ts_block(old)
        return results_file(result) + ("\n" + kept + "\n" if kept else "")
    block = f"{TS_START}\n{TS_TITLE}\n\n{markdown(result, heading='####')}{TS_END}"
    kept = _ts_block(old)
    if kept:
        return old.replace(kept, block)
    base = old or "# Benchmark results (latest run)\n\nGenerated by `make bench` (see README.md, Benchmarks).\n"
    return base.rstrip("\n") + "\n\n" + block + "\n"


def update_readme(readme: Path, table_md: str) -> bool:
    """Replace the text between the bench-results markers of README.md (only that)."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    new = text[: start + len(README_START)] + "\n" + table_md.rstrip() + "\n" + text[end:]
    readme.write_text(new)
    return True
