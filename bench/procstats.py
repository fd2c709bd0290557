"""CPU time and resident memory of a whole process tree, read from /proc.

CPU: utime + stime + cutime + cstime of every live process in the tree (the c* fields hold the
time of reaped children, so a child that died and was waited for is still counted, once).
Memory, two sums over the tree: VmRSS (a page shared by several processes counts once per process,
as `ps` adds it up) and Pss from smaps_rollup (a shared page is split between the processes that map
it, so the sum is the memory the tree occupies). For one process the two are nearly equal; for ours,
whose children are forked from the supervisor and share its pages, the RSS sum counts those pages
once per child.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _children(pid: int) -> list[int]:
    """Direct children of `pid` via /proc/<pid>/task/*/children (every thread's children)."""
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        found.extend(int(p) for p in text.split())
    return found


def tree_pids(root: int | None) -> list[int]:
    """`root` and all its descendants that are alive now (empty if `root` is None or gone)."""
    if root is None or not (_PROC / str(root)).exists():
        return []
    seen: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(_children(pid))
    return seen


def _cpu_seconds(pid: int) -> float:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name (which may contain spaces) start after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    utime, stime, cutime, cstime = (int(fields[i]) for i in range(11, 15))
    return (utime + stime + cutime + cstime) / _CLK_TCK


def _kib_field(pid: int, filename: str, field: str) -> int:
    """A "Field:   N kB" line of /proc/<pid>/<filename>, in bytes; 0 when absent (kernel threads, zombies)."""
    try:
        with open(_PROC / str(pid) / filename, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _rss_bytes(pid: int) -> int:
    return _kib_field(pid, "status", "VmRSS:")


def _pss_bytes(pid: int) -> int:
    return _kib_field(pid, "smaps_rollup", "Pss:")


def _socket_count(pid: int) -> int:
    """Open sockets of `pid` (TCP, Unix, ...): its descriptors that link to `socket:[inode]`."""
    fd_dir = f"/proc/{pid}/fd"
    count = 0
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0
    for name in names:
        try:
            if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                count += 1
        except OSError:  # closed between the listing and the read
            continue
    return count


def tree_sockets(root: int | None) -> int:
    """Open sockets of the whole tree (a socket shared by a fork counts once per process holding it)."""
    return sum(_socket_count(p) for p in tree_pids(root))


def tree_cpu_seconds(root: int | None) -> float:
    return sum(_cpu_seconds(p) for p in tree_pids(root))


def tree_rss_bytes(root: int | None) -> int:
    return sum(_rss_bytes(p) for p in tree_pids(root))


def tree_pss_bytes(root: int | None) -> int:
    return sum(_pss_bytes(p) for p in tree_pids(root))


class Memory(NamedTuple):
    """One sample of a tree's memory, in bytes."""

    rss: int
    pss: int

    def max(self, other: Memory) -> Memory:
        return Memory(max(self.rss, other.rss), max(self.pss, other.pss))


def tree_memory(root: int | None) -> Memory:
    pids = tree_pids(root)
    return Memory(sum(_rss_bytes(p) for p in pids), sum(_pss_bytes(p) for p in pids))


class RssSampler:
    """Samples the tree memory (RSS and PSS sums) of `root()` every `interval_s` in a daemon thread.

    `peak` is the maximum since `start()`, each sum on its own; `mark()` / `peak_since_mark()` give
    the maximum over a shorter window (one workload). `root` is a callable because the server
    process may be replaced (kill + restart) during a round. With `sockets`, `peak_sockets` is the most
    sockets the tree held open at one sample.
    """

    def __init__(self, root: Callable[[], int | None], interval_s: float = 0.1, sockets: bool = False) -> None:
        self._root = root
        self.interval_s = interval_s
        self.sockets = sockets
        self.peak_sockets = 0
        self.peak = Memory(0, 0)
        self._mark_peak = Memory(0, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample_now(self) -> Memory:
        root = self._root()
        memory = tree_memory(root)
        sockets = tree_sockets(root) if self.sockets else 0
        with self._lock:
            self.samples += 1
            self.peak_sockets = max(self.peak_sockets, sockets)
            self.peak = self.peak.max(memory)
            self._mark_peak = self._mark_peak.max(memory)
        return memory

    def mark(self) -> None:
        with self._lock:
            self._mark_peak = Memory(0, 0)

    def peak_since_mark(self) -> Memory:
        with self._lock:
            return self._mark_peak

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_now()
            except Exception:  # noqa: BLE001 - a vanished process between listing and reading
                pass
            self._stop.wait(self.interval_s)


def wait_quiet(
    roots: Callable[[], list[int | None]],
    max_s: float = 15.0,
    window_s: float = 0.25,
    threshold: float = 0.10,
) -> float:
    """Wait until the trees of `roots()` together use less than `threshold` of one core over a
    `window_s` window (in-flight work of the previous workload has drained), for at most `max_s`.
    Returns the time waited."""
    t0 = time.monotonic()
    prev = sum(tree_cpu_seconds(r) for r in roots())
    t_prev = t0
    while time.monotonic() - t0 < max_s:
        time.sleep(window_s)
        cur = sum(tree_cpu_seconds(r) for r in roots())
        now = time.monotonic()
        if (cur - prev) / max(now - t_prev, 1e-6) < threshold:
            break
        prev, t_prev = cur, now
    return time.monotonic() - t0


def process_cpu_seconds(pid: int) -> float:
    """CPU of one process (and of its reaped children); 0.0 once it is gone."""
    return _cpu_seconds(pid)
