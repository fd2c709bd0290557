"""The dashboard's data: metrics text -> Snapshot (cumulative values) -> View (rates over a time window)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from restate import metrics as m
from restate.dashboard import kafka_line

STALE_HEARTBEAT_S = 3.0


@dataclass
class Histogram:
    """Cumulative bucket counts (`le` -> count, +Inf included), as exposed."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0

    def minus(self, earlier: Histogram | None) -> Histogram:
        if earlier is None:
            return self
        buckets = {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()}
        return Histogram(buckets, self.total - earlier.total, self.count - earlier.count)

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket, as PromQL's histogram_quantile; None when empty."""
        if self.count <= 0:
            return None
        rank = q * self.count
        lower_le, lower_n = 0.0, 0.0
        for le in sorted(self.buckets):
            n = self.buckets[le]
            if n >= rank:
                if math.isinf(le):
                    return lower_le
                span = n - lower_n
                return lower_le + (le - lower_le) * ((rank - lower_n) / span if span > 0 else 1.0)
            lower_le, lower_n = le, n
        return lower_le


@dataclass
class PartitionSample:
    """Cumulative values of one partition at one scrape."""

    pid: int | None = None
    up: bool | None = None
    heartbeat: float | None = None
    restarts: float = 0.0
    invocations: dict[str, float] = field(default_factory=dict)
    inbox: float = 0.0
    timers: float = 0.0
    commands: float = 0.0
    batches: Histogram = field(default_factory=Histogram)
    fsync: Histogram = field(default_factory=Histogram)
    attempts: float = 0.0
    failures: float = 0.0
    deployments: set[str] = field(default_factory=set)
    leader: str | None = None  # cluster mode: the node leading the partition


@dataclass
class Snapshot:
    """One scrape of `/metrics`, taken at `at` (monotonic seconds) and `wall` (unix seconds)."""

    at: float
    wall: float
    partitions: dict[int, PartitionSample] = field(default_factory=dict)
    ingress: dict[str, float] = field(default_factory=dict)  # status -> requests
    num_partitions: int = 0
    processes: dict[str, bool] = field(default_factory=dict)  # admin, ingress: running?
    stopped: set[str] = field(default_factory=set)  # pid 0: stopped as not needed (kafka), not down
    kafka: dict[str, kafka_line.SubscriptionSample] = field(default_factory=dict)  # by subscription


def _partition(snap: Snapshot, labels: dict[str, str], key: str = "partition_id") -> PartitionSample | None:
    value = labels.get(key, "")
    if value.startswith("p"):
        value = value[1:]
    if not value.isdigit():
        return None
    return snap.partitions.setdefault(int(value), PartitionSample())


def _histogram(target: Histogram, suffix: str, labels: dict[str, str], value: float) -> None:
    if suffix == "_bucket":
        target.buckets[float(labels["le"])] = value
    elif suffix == "_sum":
        target.total = value
    elif suffix == "_count":
        target.count = value


def parse(text: str, at: float, wall: float) -> Snapshot:
    """Reads the metrics of `restate.metrics` out of a Prometheus text exposition."""
    snap = Snapshot(at, wall)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            _apply(snap, sample.name, sample.labels, sample.value)
    return snap


def _apply(snap: Snapshot, name: str, labels: dict[str, str], value: float) -> None:  # noqa: C901, PLR0912
    if kafka_line.apply(snap.kafka, name, labels, value):
        return
    if name == m.INGRESS_REQUESTS:
        status = labels.get("status", "")
        snap.ingress[status] = snap.ingress.get(status, 0.0) + value
        return
    if name == m.NUM_PARTITIONS:
        snap.num_partitions = int(value)
        return
    if name in (m.PROCESS_UP, m.PROCESS_PID, m.PROCESS_RESTARTS):
        part = _partition(snap, labels, "process")
        if part is None:
            if name == m.PROCESS_UP:
                snap.processes[labels.get("process", "")] = value > 0
            elif name == m.PROCESS_PID and value == 0:
                snap.stopped.add(labels.get("process", ""))
            return
        if name == m.PROCESS_UP:
            part.up = value > 0
        elif name == m.PROCESS_PID:
            part.pid = int(value)
        else:
            part.restarts = value
        return
    part = _partition(snap, labels)
    if part is None:
        return
    if name == m.PARTITION_LEADER:
        if value > 0:
            part.leader = labels.get("node") or None
    elif name == m.PARTITION_INVOCATIONS:
        part.invocations[labels.get("status", "")] = value
    elif name == m.PARTITION_INBOX:
        part.inbox = value
    elif name == m.PARTITION_TIMERS:
        part.timers = value
    elif name == m.PARTITION_HEARTBEAT:
        part.heartbeat = value
    elif name == m.PARTITION_COMMANDS:
        part.commands = value
    elif name.startswith(m.PARTITION_BATCH_SIZE):
        _histogram(part.batches, name[len(m.PARTITION_BATCH_SIZE) :], labels, value)
    elif name.startswith(m.PARTITION_FSYNC):
        _histogram(part.fsync, name[len(m.PARTITION_FSYNC) :], labels, value)
    elif name == m.INVOKER_INVOCATION_TASKS:
        status = labels.get("status", "")
        if status == m.TASK_STARTED:
            part.attempts = value
        elif status == m.TASK_FAILED:
            part.failures = value
    elif name == m.INVOKER_CLIENT_REQUESTS:
        if labels.get("status_code", "").startswith("2") and value > 0:
            part.deployments.add(labels.get("deployment_id", ""))


# --- the view: what one frame shows ---------------------------------------------------------------------


@dataclass
class Row:
    """One line of the partition table (also the totals line, with `partition` = None)."""

    partition: int | None
    pid: int | None
    liveness: str
    running: float
    suspended: float
    inboxed: float
    scheduled: float
    timers: float
    commands_per_s: float | None
    batch_size: float | None
    fsync_p50_ms: float | None
    fsync_p99_ms: float | None
    attempts: float
    failures: float
    deployments: int
    leader: str | None = None  # cluster mode: the node leading the partition (the dashboard's node column)


@dataclass
class View:
    """A frame: rows per partition, their totals, and the ingress rates over the window."""

    rows: list[Row]
    totals: Row
    ingress_rps: float | None
    ingress_errors_rps: float | None
    window_s: float
    processes: dict[str, bool] = field(default_factory=dict)
    deployments_registered: int | None = None
    source: str = ""
    note: str = ""
    kafka: list[kafka_line.SubscriptionRow] = field(default_factory=list)


_TERMINAL = (m.COMPLETED, m.INVOCATION_ERROR, m.REJECTED, m.FAILED)
_ERRORS = (m.INVOCATION_ERROR, m.REJECTED, m.FAILED)


def _liveness(part: PartitionSample, wall: float) -> str:
    if part.up is False:
        return "down"
    if part.heartbeat is None:
        return "starting" if part.up else "?"
    if wall - part.heartbeat > STALE_HEARTBEAT_S:
        return "stalled"
    return "up"


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _row(index: int, cur: PartitionSample, old: PartitionSample | None, span: float, wall: float) -> Row:
    fsync = cur.fsync.minus(old.fsync if old else None)
    batches = cur.batches.minus(old.batches if old else None)
    commands = None if old is None or span <= 0 else max(0.0, cur.commands - old.commands) / span
    return Row(
        partition=index,
        pid=cur.pid,
        liveness=_liveness(cur, wall),
        running=cur.invocations.get("invoked", 0.0),
        suspended=cur.invocations.get("suspended", 0.0),
        inboxed=cur.invocations.get("inboxed", 0.0),
        scheduled=cur.invocations.get("scheduled", 0.0),
        timers=cur.timers,
        commands_per_s=commands,
        batch_size=batches.total / batches.count if batches.count > 0 else None,
        fsync_p50_ms=_ms(fsync.quantile(0.5)),
        fsync_p99_ms=_ms(fsync.quantile(0.99)),
        attempts=cur.attempts,
        failures=cur.failures,
        deployments=len(cur.deployments),
        leader=cur.leader,
    )


def _totals(rows: list[Row], cur: Snapshot, old: Snapshot | None) -> Row:
    def total(attr: str) -> float:
        return sum(getattr(r, attr) for r in rows)

    fsync = Histogram()
    batches = Histogram()
    for index, part in cur.partitions.items():
        earlier = old.partitions.get(index) if old else None
        for acc, mine, theirs in (
            (fsync, part.fsync, earlier.fsync if earlier else None),
            (batches, part.batches, earlier.batches if earlier else None),
        ):
            delta = mine.minus(theirs)
            for le, n in delta.buckets.items():
                acc.buckets[le] = acc.buckets.get(le, 0.0) + n
            acc.total += delta.total
            acc.count += delta.count
    rates = [r.commands_per_s for r in rows if r.commands_per_s is not None]
    up = sum(1 for r in rows if r.liveness == "up")
    return Row(
        partition=None,
        pid=None,
        liveness=f"{up}/{len(rows)} up",
        running=total("running"),
        suspended=total("suspended"),
        inboxed=total("inboxed"),
        scheduled=total("scheduled"),
        timers=total("timers"),
        commands_per_s=sum(rates) if rates else None,
        batch_size=batches.total / batches.count if batches.count > 0 else None,
        fsync_p50_ms=_ms(fsync.quantile(0.5)),
        fsync_p99_ms=_ms(fsync.quantile(0.99)),
        attempts=total("attempts"),
        failures=total("failures"),
        deployments=len(set().union(*(p.deployments for p in cur.partitions.values()))),
    )


def build_view(cur: Snapshot, old: Snapshot | None) -> View:
    """The frame for `cur`, with rates measured since `old` (None: no rates yet)."""
    span = cur.at - old.at if old is not None else 0.0
    count = max(cur.num_partitions, max(cur.partitions, default=-1) + 1)
    for index in range(count):
        cur.partitions.setdefault(index, PartitionSample())
    rows = [
        _row(i, cur.partitions[i], old.partitions.get(i) if old else None, span, cur.wall)
        for i in sorted(cur.partitions)
    ]
    ingress_rps = errors_rps = None
    if old is not None and span > 0:

        def rate(statuses: tuple[str, ...]) -> float:
            delta = sum(cur.ingress.get(s, 0.0) - old.ingress.get(s, 0.0) for s in statuses)
            return max(0.0, delta) / span

        ingress_rps, errors_rps = rate(_TERMINAL), rate(_ERRORS)
    kafka = kafka_line.rows(cur.kafka, old.kafka if old is not None else None, span)
    processes = {name: up for name, up in cur.processes.items() if up or name not in cur.stopped}
    return View(rows, _totals(rows, cur, old), ingress_rps, errors_rps, span, processes, kafka=kafka)
