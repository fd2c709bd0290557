"""The supervisor: spawns admin, ingress and the partitions, restarts a child that dies, stops them all."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import start_http_server

from restate import metrics
from restate.config import Config, ConfigError, parse_bind_address
from restate.storage.meta import MetaStore

if TYPE_CHECKING:
    from restate.dashboard.attach import AttachedDashboard

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
STOP_GRACE_S = 10.0


def _run_admin(config: Config) -> None:
    from restate.admin.process import run_admin

    run_admin(config)


def _run_ingress(config: Config) -> None:
    from restate.ingress.process import run_ingress

    run_ingress(config)


def _run_partition(config: Config, index: int) -> None:
    from restate.actors.partition import run_partition

    run_partition(config, index)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawned children re-run the parent's `__main__`, here the CLI (typer, rich, httpx: ~0.2 s and
    memory per child), though they need nothing from it; hide it while a child starts."""
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {n: main.__dict__[n] for n in ("__file__", "__spec__") if n in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None  # multiprocessing reads it: it must exist
    try:
        yield
    finally:
        main.__dict__.update(saved)


@dataclass
class Child:
    name: str
    target: Callable[..., None]
    args: tuple[Any, ...]
    process: BaseProcess | None = None
    restarts: int = 0
    started_at: float = 0.0
    history: list[float] = field(default_factory=list)


def resolve_partitions(config: Config) -> Config:
    """The partition count is fixed when the data directory is created; later runs read it back."""
    meta = MetaStore(Path(config.base_dir) / "meta")
    try:
        stored = meta.num_partitions()
        if stored is None:
            meta.set_num_partitions(config.default_num_partitions)
            stored = config.default_num_partitions
    finally:
        meta.close()
    if stored != config.default_num_partitions:
        log.info("data directory has %d partitions; ignoring the configured %d", stored, config.default_num_partitions)
    return msgspec.structs.replace(config, default_num_partitions=stored)


class Supervisor:
    def __init__(self, config: Config, dashboard: bool = False) -> None:
        Path(config.base_dir).mkdir(parents=True, exist_ok=True)
        self.config = resolve_partitions(config)
        # Before any child exists: they inherit the directory every process records its metrics into.
        metrics.setup_multiprocess(Path(self.config.base_dir) / "metrics")
        metrics.num_partitions.labels("N1").set(self.config.default_num_partitions)
        self._dashboard: AttachedDashboard | None = None
        if dashboard:
            from restate.dashboard.attach import AttachedDashboard

            self._dashboard = AttachedDashboard(self.config)
        self._metrics_server: Any = None
        self._mp = multiprocessing.get_context("spawn")
        self._stopping = False
        self._pid_dir = Path(self.config.base_dir) / "pids"
        self.children = [
            Child("admin", _run_admin, (self.config,)),
            Child("ingress", _run_ingress, (self.config,)),
        ] + [Child(f"p{i}", _run_partition, (self.config, i)) for i in range(self.config.default_num_partitions)]

    def run(self) -> None:
        """Blocks until SIGTERM/SIGINT, restarting children that die."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._pid_dir.mkdir(parents=True, exist_ok=True)
        self._serve_node_metrics()
        if self._dashboard is not None:
            self._dashboard.start()  # first: it sends the children's logs to a file
        for child in self.children:
            self._spawn(child)
        try:
            while not self._stopping:
                sentinels = [c.process.sentinel for c in self.children if c.process is not None]
                multiprocessing.connection.wait(sentinels, timeout=0.5)
                if not self._stopping:
                    self._restart_dead()
        finally:
            if self._dashboard is not None:
                self._dashboard.stop()
            self._stop_all()
            if self._metrics_server is not None:
                self._metrics_server.shutdown()

    def _serve_node_metrics(self) -> None:
        """`/metrics` of every process on the node port; a busy port is logged, not fatal."""
        address = self.config.node_metrics_bind_address
        if not address:
            return
        host, port = parse_bind_address(address, "bind-address")
        try:
            self._metrics_server, _ = start_http_server(port, host, registry=metrics.registry())
        except OSError as exc:
            log.warning("cannot serve node metrics on %s: %s", address, exc)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _spawn(self, child: Child) -> None:
        process = self._mp.Process(target=child.target, args=child.args, name=f"restate-{child.name}", daemon=False)
        with _main_module_hidden():
            process.start()
        child.process = process
        child.started_at = time.monotonic()
        (self._pid_dir / f"{child.name}.pid").write_text(str(process.pid))
        metrics.process_up.labels(child.name).set(1)
        metrics.process_pid.labels(child.name).set(process.pid or 0)
        log.info("started %s (pid %s)", child.name, process.pid)

    def _restart_dead(self) -> None:
        for child in self.children:
            process = child.process
            if process is None or process.is_alive():
                continue
            code = process.exitcode
            process.join()
            metrics.process_up.labels(child.name).set(0)
            metrics.process_restarts.labels(child.name).inc()
            if process.pid is not None:
                metrics.process_died(process.pid)
            # Back off when a child keeps dying right after starting.
            if time.monotonic() - child.started_at > 30:
                child.restarts = 0
            delay = RESTART_BACKOFF_S[min(child.restarts, len(RESTART_BACKOFF_S) - 1)]
            child.restarts += 1
            log.warning("%s exited with code %s; restarting in %.2fs", child.name, code, delay)
            time.sleep(delay)
            if not self._stopping:
                self._spawn(child)

    def _stop_all(self) -> None:
        alive = [c.process for c in self.children if c.process is not None and c.process.is_alive()]
        for process in alive:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s did not stop in time; killing it", process.name)
                process.kill()
                process.join()


def run(config: Config, dashboard: bool = False) -> None:
    try:
        Supervisor(config, dashboard).run()
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from exc
