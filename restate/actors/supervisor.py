"""The supervisor: forks admin, ingress, the partitions (and Kafka while needed), restarts a child that dies.

Important: children are forked, not spawned. The supervisor imports every child's modules once
(`preload`) and freezes that heap, so the children start at once and share those pages instead of
each loading its own copy. Forking is only safe from a single-threaded process: the supervisor runs
no thread (the node metrics are served from its wait loop, the dashboard is a child process), and
it creates no event loop, ZeroMQ context or open database before it forks.

Start-up fails before anything is forked (`StartupError`, one line): the supervisor takes the data
directory's lock and binds the ingress and admin sockets itself, and the HTTP children serve on
inherited copies of them. So a busy port stops the server at once instead of a child dying and being
restarted for ever, and a child restarted later never binds again (connections wait in the backlog).
"""

from __future__ import annotations

import gc
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from restate import metrics
from restate.actors import on_demand
from restate.actors.node_metrics import NodeMetricsServer
from restate.actors.startup import DataDirLock, StartupError, banner, listen
from restate.config import Config, ConfigError
from restate.storage.db import StorageError
from restate.storage.meta import MetaStore

if TYPE_CHECKING:
    from restate.dashboard.attach import AttachedDashboard

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
STOP_GRACE_S = 10.0


ADMIN_MODULE = "restate.admin.process"
INGRESS_MODULE = "restate.ingress.process"
PARTITION_MODULE = "restate.actors.partition"
KAFKA_MODULE = "restate.kafka.process"


def preload(modules: tuple[str, ...]) -> None:
    """Imports what a child runs before it is forked: children share those pages and import nothing.

    Admin and ingress are forked first, once both their codes are loaded (health needs both), then
    the partitions: the health endpoints answer while the partitions' code (h2, protobuf, the state
    machine) is still loading, and admin and ingress never hold the partitions' modules at all."""
    for module in modules:
        importlib.import_module(module)


class _Closable(Protocol):
    def close(self) -> None: ...


def _child_main(target: Callable[..., None], args: tuple[Any, ...], inherited: list[_Closable]) -> None:
    """First code of a forked child: drop what it inherited from the supervisor, then run `target`."""
    for resource in inherited:  # the node metrics socket, and the listening sockets of the other children
        resource.close()  # through its object, so that nothing closes the same descriptor number later
    # The supervisor's handlers would only set a flag here: back to the defaults until the child installs its own.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target(*args)


def _run_admin(config: Config, sockets: list[socket.socket], demand: multiprocessing.connection.Connection) -> None:
    from restate.admin.process import run_admin

    run_admin(config, sockets, demand)


def _run_ingress(config: Config, sockets: list[socket.socket]) -> None:
    from restate.ingress.process import run_ingress

    run_ingress(config, sockets)


def _run_partition(config: Config, index: int) -> None:
    from restate.actors.partition import run_partition

    run_partition(config, index)


def _run_kafka(config: Config) -> None:
    from restate.kafka.process import run_kafka

    run_kafka(config)


def _write_atomically(path: Path, text: str) -> None:
    """Readers (tests, scripts) never see the file empty or half-written while a child restarts."""
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    os.replace(partial, path)


@dataclass
class Child:
    name: str
    target: Callable[..., None]
    args: tuple[Any, ...]
    modules: tuple[str, ...]  # preloaded before its first fork: what `target` runs (and what is forked next)
    sockets: list[socket.socket] = field(default_factory=list)  # the listening sockets it serves on
    pipes: list[multiprocessing.connection.Connection] = field(default_factory=list)  # the supervisor's it keeps
    demand: on_demand.OnDemand | None = None  # None: always runs; else only while admin says it is needed
    stop_deadline: float | None = None  # asked to stop (not needed any more): killed if still alive then
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
    """Owns the node: the data directory's lock, the listening sockets, and the children it forks."""

    def __init__(self, config: Config, dashboard: bool = False) -> None:
        """Takes the data directory and binds the ports; StartupError, with nothing left held, when it cannot."""
        self._lock = DataDirLock.acquire(config.base_dir)
        self._listeners: dict[str, list[socket.socket]] = {}
        self._metrics_server: NodeMetricsServer | None = None
        try:
            for name, address in (("ingress", config.ingress_bind_address), ("admin", config.admin_bind_address)):
                self._listeners[name] = listen(address, name)
            self.config = _prepare_data_dir(config, self._lock.base_dir)
            self._node_metrics = self._open_node_metrics()
        except BaseException:
            self._release()
            raise
        metrics.num_partitions.labels("N1").set(self.config.default_num_partitions)
        self._dashboard: AttachedDashboard | None = None
        if dashboard:
            from restate.dashboard.attach import AttachedDashboard

            self._dashboard = AttachedDashboard(self.config)
        self._mp = multiprocessing.get_context("fork")
        self._stopping = False
        self._pid_dir = Path(self.config.base_dir) / "pids"
        admin, ingress = self._listeners["admin"], self._listeners["ingress"]
        # Admin tells, over this pipe, whether the Kafka process is needed (restate.actors.on_demand).
        self._demand_in, demand_out = self._mp.Pipe(duplex=False)
        self._pipes = [self._demand_in, demand_out]
        admin_args = (self.config, admin, demand_out)
        self.children = [
            Child("admin", _run_admin, admin_args, (ADMIN_MODULE, INGRESS_MODULE), admin, [demand_out]),
            Child("ingress", _run_ingress, (self.config, ingress), (INGRESS_MODULE,), ingress),
        ]
        self.children += [
            Child(f"p{i}", _run_partition, (self.config, i), (PARTITION_MODULE,))
            for i in range(self.config.default_num_partitions)
        ]
        # Kafka subscriptions' consumers: only while a subscription exists
        self.children.append(Child("kafka", _run_kafka, (self.config,), (KAFKA_MODULE,), demand=on_demand.OnDemand()))

    def _open_node_metrics(self) -> str:
        """Serves `/metrics` on the node port if it can (a busy port only warns); the banner's words for it."""
        address = self.config.node_metrics_bind_address
        if not address:
            return "off"
        try:
            self._metrics_server = NodeMetricsServer.open(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            log.warning("cannot serve node metrics on %s: %s", address, reason)
            return f"not served ({address}: {reason})"
        return f"http://{address}/metrics"

    def run(self) -> None:
        """Blocks until SIGTERM/SIGINT, restarting children that die."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        print(banner(self.config, self._lock.base_dir, self._node_metrics), flush=True)
        try:
            if self._dashboard is not None:
                self._dashboard.start(self._fork)  # first: it sends the children's logs to a file
            for child in self.children:
                if child.demand is None:  # the others once admin says they are needed
                    self._start_child(child)
            while not self._stopping:
                self._wait_and_serve()
                if not self._stopping:
                    self._kill_late_stoppers()
                    self._restart_dead()
        finally:
            self._close_listeners()  # once the children have closed theirs too, new connections are refused
            if self._dashboard is not None:
                self._dashboard.stop()
            self._stop_all()
            self._release()

    def _close_listeners(self) -> None:
        for sockets in self._listeners.values():
            for sock in sockets:
                sock.close()

    def _release(self) -> None:
        """Closes what the supervisor holds; the data directory's lock goes last."""
        self._close_listeners()
        if self._metrics_server is not None:
            self._metrics_server.close()
        for pipe in getattr(self, "_pipes", []):  # not made yet when binding failed
            pipe.close()
        self._lock.release()

    def _wait_and_serve(self) -> None:
        """Sleeps until a child dies, a metrics scrape or admin's demand arrives, or half a second passes."""
        waitables: list[Any] = [c.process.sentinel for c in self.children if c.process is not None]
        waitables.append(self._demand_in)
        if self._metrics_server is not None:
            waitables.append(self._metrics_server)
        ready = multiprocessing.connection.wait(waitables, timeout=0.5)
        if self._metrics_server is not None and self._metrics_server in ready:
            self._metrics_server.serve_one()
        if self._demand_in in ready:
            self._read_demands()

    def _read_demands(self) -> None:
        """Starts or stops the on-demand children as admin's latest word says."""
        wanted: bool | None = None
        while self._demand_in.poll():
            try:
                wanted = on_demand.decode(self._demand_in.recv_bytes()).kafka
            except (msgspec.DecodeError, OSError, EOFError) as exc:
                log.warning("ignoring a bad demand message from admin: %s", exc)
        if wanted is None or self._stopping:
            return
        for child in self.children:
            if child.demand is None:
                continue
            move = child.demand.on_demand(wanted, child.process is not None)
            if move == "start":
                log.info("starting %s: a subscription exists", child.name)
                self._start_child(child)
            elif move == "stop" and child.process is not None and child.process.pid is not None:
                log.info("stopping %s: no subscription left", child.name)
                child.stop_deadline = time.monotonic() + STOP_GRACE_S
                os.kill(child.process.pid, signal.SIGTERM)

    def _kill_late_stoppers(self) -> None:
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if child.stop_deadline is not None and now > child.stop_deadline and process is not None:
                if process.is_alive():
                    log.warning("%s did not stop in time; killing it", child.name)
                    process.kill()
                child.stop_deadline = None

    def _fork(
        self, target: Callable[..., None], args: tuple[Any, ...], name: str, keep: list[Any] | None = None
    ) -> BaseProcess:
        """Starts `target(*args)` in a forked child sharing the supervisor's (frozen) heap.

        The child closes the supervisor's sockets except `keep`, the listening sockets it serves on."""
        inherited: list[_Closable] = [
            sock for sockets in self._listeners.values() for sock in sockets if sock not in (keep or [])
        ]
        inherited += [pipe for pipe in self._pipes if pipe not in (keep or [])]
        if self._metrics_server is not None:
            inherited.append(self._metrics_server)
        process = self._mp.Process(target=_child_main, args=(target, args, inherited), name=name, daemon=False)
        sys.stdout.flush()  # or the child would write what is buffered here a second time
        sys.stderr.flush()
        gc.freeze()  # the collector leaves what exists now alone: those pages stay shared
        process.start()
        return process

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _start_child(self, child: Child) -> None:
        preload(child.modules)  # an on-demand child's modules only once it is first needed
        process = self._fork(child.target, child.args, f"restate-{child.name}", [*child.sockets, *child.pipes])
        child.process = process
        child.started_at = time.monotonic()
        _write_atomically(self._pid_dir / f"{child.name}.pid", str(process.pid))
        metrics.process_up.labels(child.name).set(1)
        metrics.process_pid.labels(child.name).set(process.pid or 0)
        log.info("started %s (pid %s)", child.name, process.pid)

    def _restart_dead(self) -> None:
        for child in self.children:
            if self._stopping:  # a child that exits now is being stopped, not to be restarted
                return
            process = child.process
            if process is None or process.is_alive():
                continue
            code = process.exitcode
            process.join()
            metrics.process_up.labels(child.name).set(0)
            if process.pid is not None:
                metrics.process_died(process.pid)
            if child.demand is not None and self._on_demand_exit(child, code):
                continue
            metrics.process_restarts.labels(child.name).inc()
            # Back off when a child keeps dying right after starting.
            if time.monotonic() - child.started_at > 30:
                child.restarts = 0
            delay = RESTART_BACKOFF_S[min(child.restarts, len(RESTART_BACKOFF_S) - 1)]
            child.restarts += 1
            log.warning("%s exited with code %s; restarting in %.2fs", child.name, code, delay)
            time.sleep(delay)
            if not self._stopping:
                self._start_child(child)

    def _on_demand_exit(self, child: Child, code: int | None) -> bool:
        """True when the on-demand child's exit was handled here (it was stopped, or is not needed any more)."""
        assert child.demand is not None
        crashed, move = child.demand.on_exit()
        child.stop_deadline = None
        if move == "restart":  # a crash while needed: restarted as any child
            return False
        if crashed:
            log.warning("%s exited with code %s; not needed any more", child.name, code)
        else:
            log.info("%s stopped (code %s)", child.name, code)
        child.process = None
        metrics.process_pid.labels(child.name).set(0)
        (self._pid_dir / f"{child.name}.pid").unlink(missing_ok=True)
        if move == "start":  # a subscription again while it was stopping
            self._start_child(child)
        return True

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


def _prepare_data_dir(config: Config, base_dir: Path) -> Config:
    """Reads (or records) the partition count and empties the last run's metrics, once the directory is ours."""
    try:
        resolved = resolve_partitions(config)
        # Before any child exists: they inherit the directory every process records its metrics into.
        metrics.setup_multiprocess(base_dir / "metrics")
        (base_dir / "pids").mkdir(exist_ok=True)
    except (OSError, StorageError) as exc:
        raise StartupError(f"cannot use {base_dir}: {exc}") from exc
    return resolved


def run(config: Config, dashboard: bool = False) -> None:
    """Runs the node until SIGTERM/SIGINT; StartupError (one line, nothing started) when it cannot start."""
    try:
        supervisor = Supervisor(config, dashboard)
    except ConfigError as exc:
        raise StartupError(f"configuration error: {exc}") from exc
    supervisor.run()
