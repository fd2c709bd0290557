"""One benchmark round: a fresh server + a fresh official-SDK service process, registered over h2c,
then the workloads, then stop. Every planned figure ends up as a number or as an error; a failing
workload (or a dying server) never aborts the run.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.plan import HANDLERS, PERCENTILES, Handler, Plan
from bench.procstats import RssSampler, tree_cpu_seconds, wait_quiet
from tests.sdk_matrix.ts_service import TsService
from tests.support import OurRestateServer, RealRestateServer, RestateServer, ServiceProcess
from tests.support.net import free_port
from tests.support.services import HYPERCORN_CONFIG

MiB = 1024 * 1024
CALL_TIMEOUT_S = 30.0
START_DEADLINE_S = 90.0
RECOVERY_DEADLINE_S = 90.0
POLL_S = 0.02
MAX_ERROR_RATE = 0.01  # a throughput run with more failed requests than this is a failure, not a figure
BODY = b"1"
JSON = {"content-type": "application/json"}
_LOG_PATTERN = re.compile(r"error|exception|traceback|warn|panic|fail|killed|timed? ?out|refused|reset", re.I)
_TIMESTAMP = re.compile(r"^[\d\-:T., Z]+")


class WorkloadError(RuntimeError):
    """A workload could not produce its figures."""


class BenchService(ServiceProcess):
    """tests/services/bench.py under hypercorn, as tests/support runs it, minus the access log
    (one log line per request would cost the service CPU that both servers need)."""

    def __init__(self, log_dir: Path, name: str) -> None:
        super().__init__(log_dir, module="bench", name=name)
        config = log_dir / f"{self.name}-{self.port}-hypercorn.toml"
        config.write_text(HYPERCORN_CONFIG.format(port=self.port).replace('accesslog = "-"\n', ""))


_ERROR_LINE = re.compile(r"\bERROR\b|\bCRITICAL\b|\bpanicked\b|^Traceback \(most recent call last\)")
_IGNORED = ("octocrab",)  # the real server's release check (no network here), logged as ERROR
_NORMALIZE = re.compile(r"\\x[0-9a-f]{2}|[0-9]+")


class LogWatch:
    """Remembers where a log file ended; `excerpt()` gives the notable lines written since,
    `errors()` the errors (ERROR lines, tracebacks) written since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def _new_text(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read(4 * MiB).decode("utf-8", "replace")
        except OSError:
            return ""

    def errors(self, max_entries: int = 8) -> tuple[int, str]:
        """(number of error entries, the first distinct ones); a traceback is shortened to its last
        frame and exception line."""
        lines = self._new_text().splitlines()
        count, entries, seen = 0, list[str](), set[str]()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if line.startswith("Traceback (most recent call last)"):
                last_frame = ""
                while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                    if lines[i].lstrip().startswith("File "):
                        last_frame = lines[i].strip()
                    i += 1
                exc_line = lines[i] if i < len(lines) else ""
                i += 1
                entry = f"Traceback: {last_frame} -> {exc_line}"
            elif _ERROR_LINE.search(line) and not any(s in line for s in _IGNORED):
                entry = line
            else:
                continue
            count += 1
            key = _NORMALIZE.sub("#", _TIMESTAMP.sub("", entry))[:200]
            if key not in seen and len(entries) < max_entries:
                seen.add(key)
                entries.append(entry[:500])
        return count, "\n".join(entries)

    def excerpt(self, max_lines: int = 20) -> str:
        text = self._new_text()
        seen: set[str] = set()
        picked: list[str] = []
        for line in text.splitlines():
            if not _LOG_PATTERN.search(line):
                continue
            key = _TIMESTAMP.sub("", line)[:160]
            if key in seen:
                continue
            seen.add(key)
            picked.append(line[:400])
            if len(picked) >= max_lines:
                break
        return "\n".join(picked)


class Round:
    """Figures, errors and extra information of one round of one server."""

    def __init__(self, server: str, index: int, plan: Plan, log_dir: Path, say: Callable[[str], None]) -> None:
        self.server_kind = server
        self.index = index
        self.plan = plan
        self.log_dir = log_dir
        self.say = say
        self.figures: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.info: dict[str, Any] = {}
        self.problems: list[dict[str, Any]] = []
        self.server: RestateServer | None = None
        self.service: BenchService | TsService | None = None
        self.sampler: RssSampler | None = None
        self.client = httpx.Client(timeout=CALL_TIMEOUT_S)

    # --- bookkeeping -----------------------------------------------------------------------

    def record(self, key: str, value: float) -> None:
        self.figures[key] = float(value)

    def fail(self, keys: list[str], error: str, workload: str, excerpt: str = "") -> None:
        for key in keys:
            if key not in self.figures:
                self.errors.setdefault(key, error)
        self.problem(workload, error, excerpt, fatal=True)

    def problem(self, workload: str, error: str, excerpt: str = "", fatal: bool = False) -> None:
        entry = {"server": self.server_kind, "round": self.index, "workload": workload, "error": error}
        if excerpt:
            entry["server_log_excerpt"] = excerpt
        entry["fatal"] = fatal
        self.problems.append(entry)
        self.say(f"    !! {workload}: {error.splitlines()[0] if error else error}")

    def result(self) -> dict[str, Any]:
        for key in self.plan.figure_keys():
            if key not in self.figures and key not in self.errors:
                self.errors[key] = "not measured (an earlier failure ended the round)"
        return {
            "server": self.server_kind,
            "round": self.index,
            "figures": self.figures,
            "errors": self.errors,
            "info": self.info,
            "problems": self.problems,
        }

    # --- processes -------------------------------------------------------------------------

    def server_pid(self) -> int | None:
        server = self.server
        if server is None or not server.process.alive():
            return None
        return server.process.pid

    def service_pid(self) -> int | None:
        if self.service is None or not self.service.alive():
            return None
        return self.service.process.pid

    def log_watch(self) -> LogWatch:
        assert self.server is not None
        return LogWatch(self.server.process.log_path)

    def quiet(self) -> None:
        wait_quiet(lambda: [self.server_pid(), self.service_pid()])

    def ensure_up(self, workload: str) -> None:
        """Before a workload: if the server (or service) process died, say so and start it again."""
        assert self.server is not None and self.service is not None
        if not self.service.alive():
            proc = self.service.process.proc
            self.problem(workload, f"service process had exited (code {proc and proc.returncode}); restarting it")
            self.service.start()
        if not self.server.process.alive():
            code = self.server.process.proc.returncode if self.server.process.proc else None
            tail = self.server.process.log_tail(20)
            self.problem(workload, f"server process had exited (code {code}); restarting it", tail)
            self.server.kill()  # reaps what is left of its process group (orphaned children hold ports)
            self.server.start()

    def check_log(self, workload: str, watch: LogWatch) -> None:
        """Record (not fatal) the errors the server logged during a workload, even if every call succeeded."""
        count, text = watch.errors()
        if count:
            first = text.splitlines()[0] if text else ""
            self.problem(workload, f"the server logged {count} error(s) during the workload; first: {first}", text)

    def post(self, path: str, timeout: float = CALL_TIMEOUT_S) -> httpx.Response:
        assert self.server is not None
        return self.client.post(f"{self.server.ingress_url}{path}", content=BODY, headers=JSON, timeout=timeout)

    def until_ok(self, path: str, deadline_s: float) -> float:
        """Call `path` until it answers 200; returns the time of that answer (monotonic)."""
        deadline = time.monotonic() + deadline_s
        last = "no attempt"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkloadError(f"no successful call to {path} within {deadline_s:.0f}s (last: {last})")
            try:
                resp = self.post(path, timeout=max(0.5, min(CALL_TIMEOUT_S, remaining)))
                if resp.status_code == 200:
                    return time.monotonic()
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(POLL_S)

    # --- the round -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        plan = self.plan
        t_round = time.monotonic()
        self.info["loadavg_start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        data_root = Path(tempfile.mkdtemp(prefix=f"bench-{self.server_kind}-"))
        try:
            self.server = self.new_server(data_root / "data")
            self.service = self.new_service()
            self.sampler = RssSampler(self.server_pid)
            self.service.start()
            if not self.startup():
                return self.result()
            self.sampler.start()
            self.idle()
            for name in plan.latency_handlers:
                self.latency(HANDLERS[name])
            for name in plan.throughput_handlers:
                self.throughput_handler(HANDLERS[name])
            self.record("resources.peak_rss_mb", self.sampler.peak.rss / MiB)
            self.record("resources.peak_pss_mb", self.sampler.peak.pss / MiB)
            self.sampler.stop()
            if plan.recovery:
                self.recovery()
        except Exception as exc:  # noqa: BLE001 - keep the other rounds going, record why this one stopped
            self.problem("round", f"round aborted: {type(exc).__name__}: {exc}", fatal=True)
        finally:
            if self.sampler is not None:
                self.sampler.stop()
            self.client.close()
            t_stop = time.monotonic()
            if self.service is not None:
                self.service.stop()
            if self.server is not None:
                self.info["stop_exit_code"] = self.server.stop()
            self.info["stop_s"] = time.monotonic() - t_stop
            shutil.rmtree(data_root, ignore_errors=True)
            self.info["round_wall_s"] = time.monotonic() - t_round
        return self.result()

    def new_server(self, data_dir: Path) -> RestateServer:
        """Each server as `restate up` / the real binary run by default: ours serves its node metrics too."""
        if self.server_kind == "ours":
            metrics = {"RESTATE_BIND_ADDRESS": f"127.0.0.1:{free_port()}"}
            return OurRestateServer(data_dir, self.log_dir, partitions=self.plan.partitions, env=metrics)
        return RealRestateServer(data_dir, self.log_dir, partitions=self.plan.partitions)

    def new_service(self) -> BenchService | TsService:
        """The plan's flavour of the benchmark's services (the TypeScript one over h2c, as the Python one)."""
        if self.plan.service == "ts":
            return TsService(self.log_dir, "h2c", app="bench")
        return BenchService(self.log_dir, name=f"svc-{self.server_kind}-r{self.index + 1}")

    def startup(self) -> bool:
        """Cold start: `up` → health → registration (h2c) → first successful invocation."""
        assert self.server is not None and self.service is not None
        keys = ["startup.ready_s", "startup.cold_start_s"]
        watch = self.log_watch()
        t0 = time.monotonic()
        try:
            self.server.process.start()
            self.server.wait_ready(START_DEADLINE_S)
            self.record("startup.ready_s", time.monotonic() - t0)
            deadline = time.monotonic() + START_DEADLINE_S
            while True:
                try:
                    self.info["deployment"] = self.server.register(self.service.url).get("id")
                    break
                except (AssertionError, httpx.HTTPError) as exc:
                    if time.monotonic() > deadline:
                        raise WorkloadError(f"registration failed: {exc}") from exc
                    time.sleep(POLL_S)
            t_first = self.until_ok(HANDLERS["noop"].path, START_DEADLINE_S)
            self.record("startup.cold_start_s", t_first - t0)
            self.say(f"    cold start {t_first - t0:.2f}s (health after {self.figures['startup.ready_s']:.2f}s)")
            self.check_log("startup", watch)
            return True
        except Exception as exc:  # noqa: BLE001
            excerpt = watch.excerpt() or self.server.process.log_tail(20)
            self.fail(keys, f"start-up failed: {type(exc).__name__}: {exc}", "startup", excerpt)
            return False

    def idle(self) -> None:
        assert self.sampler is not None
        keys = ["resources.idle_rss_mb", "resources.idle_pss_mb", "resources.idle_cpu_pct"]
        try:
            self.quiet()
            self.sampler.mark()
            cpu0, t0 = tree_cpu_seconds(self.server_pid()), time.monotonic()
            time.sleep(self.plan.idle_s)
            cpu1, t1 = tree_cpu_seconds(self.server_pid()), time.monotonic()
            memory = self.sampler.peak_since_mark().max(self.sampler.sample_now())
            self.record("resources.idle_rss_mb", memory.rss / MiB)
            self.record("resources.idle_pss_mb", memory.pss / MiB)
            self.record("resources.idle_cpu_pct", 100.0 * (cpu1 - cpu0) / (t1 - t0))
            fig = self.figures
            self.say(
                f"    idle: PSS {fig['resources.idle_pss_mb']:.0f} MiB (RSS sum {fig['resources.idle_rss_mb']:.0f}),"
                f" CPU {fig['resources.idle_cpu_pct']:.1f}%"
            )
        except Exception as exc:  # noqa: BLE001
            self.fail(keys, f"{type(exc).__name__}: {exc}", "idle")

    # --- 1. sequential latency -------------------------------------------------------------

    def latency(self, handler: Handler) -> None:
        keys = [f"latency.{handler.name}.{p}_ms" for p in PERCENTILES]
        workload = f"latency {handler.name}"
        watch = self.log_watch()
        try:
            self.ensure_up(workload)
            samples, errors, first_error, cut = self._sequential(handler)
            self.info[f"latency.{handler.name}"] = {"calls": len(samples), "errors": errors, "cut_short": cut}
            if not samples:
                raise WorkloadError(f"no successful call ({errors} errors; first: {first_error})")
            if errors > MAX_ERROR_RATE * (errors + len(samples)):
                raise WorkloadError(f"{errors} of {errors + len(samples)} calls failed (first: {first_error})")
            samples.sort()
            for p in PERCENTILES:
                self.record(f"latency.{handler.name}.{p}_ms", 1000 * _percentile(samples, int(p[1:])))
            if errors or cut:
                detail = f"{errors} failed calls (first: {first_error})" if errors else ""
                if cut:
                    within = f"within {self.plan.latency_deadline_s:.0f}s"
                    detail += f"{'; ' if detail else ''}only {len(samples)} of {self.plan.calls} calls {within}"
                self.problem(workload, detail, watch.excerpt())
            fig = self.figures
            self.say(
                f"    {workload}: p50 {fig[keys[0]]:.2f} ms, p90 {fig[keys[1]]:.2f} ms, p99 {fig[keys[2]]:.2f} ms"
                + (f" ({errors} errors)" if errors else "")
            )
        except Exception as exc:  # noqa: BLE001
            self.fail(keys, f"{type(exc).__name__}: {exc}", workload, watch.excerpt())
        finally:
            self.quiet()
            self.check_log(workload, watch)

    def _sequential(self, handler: Handler) -> tuple[list[float], int, str, bool]:
        """`warmup + calls` sequential calls on one keep-alive connection; latencies of the last `calls`."""
        assert self.server is not None
        plan = self.plan
        samples: list[float] = []
        errors = 0
        first_error = ""
        deadline = time.monotonic() + plan.latency_deadline_s
        url = self.server.ingress_url
        with httpx.Client(timeout=CALL_TIMEOUT_S, limits=httpx.Limits(max_connections=1)) as client:
            for i in range(plan.latency_warmup_calls + plan.calls):
                if time.monotonic() > deadline:
                    return samples, errors, first_error, True
                path = handler.path.replace("{key}", f"k{i % handler.keys}" if handler.keys else "")
                t0 = time.perf_counter()
                try:
                    resp = client.post(url + path, content=BODY, headers=JSON)
                    ok = resp.status_code == 200
                    err = "" if ok else f"HTTP {resp.status_code}: {resp.text[:300]}"
                except httpx.HTTPError as exc:
                    ok, err = False, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t0
                if ok:
                    if i >= plan.latency_warmup_calls:
                        samples.append(elapsed)
                else:
                    errors += 1
                    first_error = first_error or err
        return samples, errors, first_error, False

    # --- 2./3./4. closed-loop throughput, CPU per invocation --------------------------------

    def throughput_handler(self, handler: Handler) -> None:
        plan = self.plan
        if plan.warmup_s > 0:
            watch = self.log_watch()
            try:
                self.ensure_up(f"warm-up {handler.name}")
                assert self.server is not None
                self._wrk(handler, plan.concurrency[0], plan.warmup_s)
            except Exception as exc:  # noqa: BLE001 - the measured runs will show it
                self.problem(f"warm-up {handler.name}", f"{type(exc).__name__}: {exc}")
            self.quiet()
            self.check_log(f"warm-up {handler.name}", watch)
        for c in plan.concurrency:
            self.throughput(handler, c)

    def throughput(self, handler: Handler, c: int) -> None:
        assert self.sampler is not None
        plan = self.plan
        base = f"throughput.{handler.name}.c{c}"
        keys = [f"{base}.{k}" for k in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1k")]
        workload = f"throughput {handler.name} c={c}"
        watch = self.log_watch()
        try:
            self.ensure_up(workload)
            assert self.server is not None
            self.sampler.mark()
            pid0 = self.server_pid()
            cpu0, svc0 = tree_cpu_seconds(pid0), tree_cpu_seconds(self.service_pid())
            res = self._wrk(handler, c, plan.duration_s)
            pid1 = self.server_pid()
            cpu = tree_cpu_seconds(pid1) - cpu0
            svc = tree_cpu_seconds(self.service_pid()) - svc0
            invocations = res.ok * handler.invocations_per_call
            attempts = res.requests + sum(res.socket_errors.values())
            self.info[base] = {
                "requests": res.requests,
                "ok": res.ok,
                "non2xx": res.non2xx,
                "socket_errors": res.socket_errors,
                "errors": res.error_count,
                "duration_s": res.duration_s,
                "wrk_rps": res.requests / res.duration_s if res.duration_s else 0.0,
                "p75_ms": 1000 * res.latency_s.get("p75", math.nan),
                "p90_ms": 1000 * res.latency_s.get("p90", math.nan),
                "server_cpu_s": cpu,
                "service_cpu_s": svc,
                "service_cpu_s_per_1k": 1000 * svc / invocations if invocations else None,
                "peak_rss_mb": self.sampler.peak_since_mark().rss / MiB,
                "peak_pss_mb": self.sampler.peak_since_mark().pss / MiB,
                "non2xx_samples": res.samples,
            }
            errors = (
                f"{res.error_count} errors of {attempts} requests (non-2xx {res.non2xx}, socket {res.socket_errors})"
                + (f"; first non-2xx: {res.samples[0]}" if res.samples else "")
            )
            if pid1 is None or pid1 != pid0:
                raise WorkloadError(f"the server process exited during the run; {errors}")
            if res.ok == 0:
                raise WorkloadError(f"no successful request in {res.duration_s:.1f}s; {errors}")
            if res.error_count > MAX_ERROR_RATE * attempts:
                raise WorkloadError(f"more than {MAX_ERROR_RATE:.0%} of the requests failed: {errors}")
            if not {"p50", "p99"} <= res.latency_s.keys():
                raise WorkloadError(f"wrk printed no latency distribution:\n{res.output[-1500:]}")
            self.record(f"{base}.rps", res.ok_rps)
            self.record(f"{base}.p50_ms", 1000 * res.latency_s["p50"])
            self.record(f"{base}.p99_ms", 1000 * res.latency_s["p99"])
            self.record(f"{base}.cpu_s_per_1k", 1000 * cpu / invocations)
            if res.error_count:
                self.problem(workload, errors, watch.excerpt())
            self.say(
                f"    {workload}: {res.ok_rps:.0f} req/s, p50 {1000 * res.latency_s['p50']:.1f} ms, "
                f"p99 {1000 * res.latency_s['p99']:.1f} ms, CPU {1000 * cpu / invocations:.2f} s/1k"
                + (f", {res.error_count} errors" if res.error_count else "")
            )
        except Exception as exc:  # noqa: BLE001
            self.fail(keys, f"{type(exc).__name__}: {exc}", workload, watch.excerpt())
        finally:
            self.quiet()
            self.check_log(workload, watch)

    def _wrk(self, handler: Handler, connections: int, duration_s: float) -> wrk.WrkResult:
        assert self.server is not None
        url = self.server.ingress_url
        return wrk.run(url, handler.path, "1", handler.keys, connections, duration_s, self.plan.wrk_threads)

    # --- 5. recovery -----------------------------------------------------------------------

    def recovery(self) -> None:
        """ours: SIGKILL one partition process → its invocations run again (`recovery.s`); both:
        SIGKILL of the whole server + restart → invocations run again (`recovery.whole_server_s`).
        The real server is one process, so its `recovery.s` is the whole-server figure."""
        assert self.server is not None
        partitions = self.plan.partitions
        key = _key_on_partition(0, partitions) if self.server_kind == "ours" else "r0"
        path = HANDLERS["object"].path.replace("{key}", key)
        if isinstance(self.server, OurRestateServer):
            watch = self.log_watch()
            try:
                self.ensure_up("recovery (partition)")
                self.until_ok(path, CALL_TIMEOUT_S)
                old = self.server.child_pid("p0")
                t0 = time.monotonic()
                os.kill(old, signal.SIGKILL)
                t_ok = self.until_ok(path, RECOVERY_DEADLINE_S)
                self.record("recovery.s", t_ok - t0)
                self.info["recovery"] = "SIGKILL of partition p0; time to the first successful call on a key of p0"
                self.say(f"    recovery (SIGKILL of partition 0): {t_ok - t0:.2f}s")
            except Exception as exc:  # noqa: BLE001
                self.fail(["recovery.s"], f"{type(exc).__name__}: {exc}", "recovery (partition)", watch.excerpt())
            self.quiet()
            self.check_log("recovery (partition)", watch)
        watch = self.log_watch()
        try:
            self.ensure_up("recovery (whole server)")
            self.until_ok(path, CALL_TIMEOUT_S)
            t0 = time.monotonic()
            self.server.kill()
            self.server.process.start()
            t_ok = self.until_ok(path, RECOVERY_DEADLINE_S)
            self.record("recovery.whole_server_s", t_ok - t0)
            if self.server_kind != "ours":
                self.record("recovery.s", t_ok - t0)
                self.info["recovery"] = "SIGKILL + restart of the whole (single-process) server"
            self.say(f"    recovery (SIGKILL + restart of the whole server): {t_ok - t0:.2f}s")
        except Exception as exc:  # noqa: BLE001
            keys = ["recovery.whole_server_s"] + (["recovery.s"] if self.server_kind != "ours" else [])
            self.fail(keys, f"{type(exc).__name__}: {exc}", "recovery (whole server)", watch.excerpt())
        self.check_log("recovery (whole server)", watch)


def _percentile(sorted_values: list[float], pct: int) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _key_on_partition(partition: int, partitions: int) -> str:
    """An object key that our server places on `partition` (restate.ids: xxh3 of the key, N ranges)."""
    from restate.ids import partition_for, partition_key_for

    for i in range(100_000):
        key = f"r{i}"
        if partition_for(partition_key_for(key), partitions) == partition:
            return key
    raise WorkloadError(f"no key found for partition {partition}")
