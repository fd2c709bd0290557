"""Run Debian's `wrk` (closed loop, fixed duration) with bench/post.lua and parse its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

POST_LUA = Path(__file__).resolve().parent / "post.lua"
WRK_TIMEOUT = "30s"  # per request; wrk's default of 2 s would turn slow answers into errors

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    pass


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError("`wrk` not found: install it with `apt-get install -y wrk` (see README, Benchmarks)")
    return path


def wrk_version() -> str:
    try:
        out = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, timeout=10)
    except (WrkError, OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split("Copyright")[0].strip() if first else "unknown"


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS_S[unit]


@dataclass
class WrkResult:
    requests: int  # completed responses (any status)
    duration_s: float
    non2xx: int
    socket_errors: dict[str, int]
    latency_s: dict[str, float]  # "p50", "p75", "p90", "p99"
    samples: list[str] = field(default_factory=list)  # first non-2xx responses (status + body prefix)
    output: str = ""

    @property
    def ok(self) -> int:
        return max(0, self.requests - self.non2xx)

    @property
    def ok_rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())


def parse(output: str) -> WrkResult:
    m = re.search(r"^\s*(\d+) requests in " + _TIME, output, re.M)
    if m is None:
        raise WrkError(f"cannot parse wrk output:\n{output[-2000:]}")
    requests = int(m.group(1))
    duration = _seconds(m.group(2), m.group(3))
    latency: dict[str, float] = {}
    for pct, value, unit in re.findall(r"^\s*(50|75|90|99)%\s+" + _TIME, output, re.M):
        latency[f"p{pct}"] = _seconds(value, unit)
    socket_errors: dict[str, int] = {}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m is not None:
        socket_errors = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups(), strict=True)}
    m = re.search(r"^bench-non2xx: (\d+)", output, re.M)
    non2xx = int(m.group(1)) if m else 0
    m2 = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if m2 is not None:
        non2xx = max(non2xx, int(m2.group(1)))
    samples = re.findall(r"^bench-non2xx-sample: (.*)$", output, re.M)
    return WrkResult(requests, duration, non2xx, socket_errors, latency, samples, output)


def run(
    base_url: str,
    path: str,
    body: str = "1",
    keys: int = 0,
    connections: int = 32,
    duration_s: float = 10.0,
    threads: int = 2,
) -> WrkResult:
    """`wrk -t{threads} -c{connections} -d{duration}s --latency -s post.lua URL -- PATH BODY KEYS`."""
    threads = max(1, min(threads, connections))
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout", WRK_TIMEOUT,
        "--latency",
        "-s", str(POST_LUA),
        base_url,
        "--", path, body, str(keys),
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {duration_s + 60:.0f}s") from exc
    output = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.stderr.strip() else "")
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}:\n{output[-2000:]}")
    return parse(output)
