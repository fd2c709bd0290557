"""Every Prometheus metric of the server, defined once, and the multi-process set-up that aggregates them.

Important: every process of one server (supervisor, admin, ingress, partitions) records into files
under `<base-dir>/metrics` (prometheus-client's multiprocess mode). The supervisor empties that
directory and calls `setup_multiprocess` before it forks the children, which inherit the
`PROMETHEUS_MULTIPROC_DIR` environment variable. Without it (unit tests, a lone process) the
values live in this process's default registry. Every metric here has labels: a labelled child
reads the value class when it is first used, so `setup_multiprocess` also works after import.

Names follow the real Restate server where it has an equivalent (`restate_ingress_requests_total`,
`restate_invoker_invocation_tasks_total`, `restate_invoker_enqueue_total`,
`restate_invoker_task_duration_seconds`, `restate_partition_start_total`, `restate_num_partitions`).
Hot paths call the pre-bound children of `PartitionMetrics`/`InvokerMetrics` or `ingress_request`,
never `Counter(...)` or `.labels(...)` per event.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from restate.metrics_pending import PendingCounter, PendingGauge, PendingHistogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- names (as exposed; prometheus-client adds `_total` to counters) -----------------------------------

INGRESS_REQUESTS = "restate_ingress_requests_total"
INVOKER_ENQUEUE = "restate_invoker_enqueue_total"
INVOKER_INVOCATION_TASKS = "restate_invoker_invocation_tasks_total"
INVOKER_RETRIES = "restate_invoker_retries_total"
INVOKER_CLIENT_REQUESTS = "restate_invoker_client_requests_total"
INVOKER_TASK_DURATION = "restate_invoker_task_duration_seconds"
PARTITION_START = "restate_partition_start_total"
PARTITION_COMMANDS = "restate_partition_commands_applied_total"
PARTITION_BATCH_SIZE = "restate_partition_commit_batch_size"
PARTITION_FSYNC = "restate_partition_fsync_duration_seconds"
PARTITION_JOURNAL_ENTRIES = "restate_partition_journal_entries_written_total"
PARTITION_INVOCATIONS = "restate_partition_invocations"
PARTITION_COMPLETED = "restate_partition_invocations_completed_total"
PARTITION_INBOX = "restate_partition_inbox_depth"
PARTITION_TIMERS = "restate_partition_timers"
PARTITION_HEARTBEAT = "restate_partition_heartbeat_timestamp_seconds"
NUM_PARTITIONS = "restate_num_partitions"
PARTITION_LEADER = "restate_cluster_partition_leader"  # ours: cluster mode only
PROCESS_UP = "restate_process_up"
PROCESS_PID = "restate_process_pid"
PROCESS_RESTARTS = "restate_process_restarts_total"
KAFKA_REQUESTS = "restate_kafka_ingress_requests_total"  # the real server's name: records consumed
KAFKA_INVOCATIONS = "restate_kafka_invocations_created_total"
KAFKA_PARKED = "restate_kafka_records_parked_total"
KAFKA_ERRORS = "restate_kafka_errors_total"
KAFKA_LAG = "restate_kafka_consumer_lag"

# Label values of INGRESS_REQUESTS `status` (the real server's, plus `rejected` and `failed`).
ADMITTED, COMPLETED, INVOCATION_ERROR = "admitted", "completed", "invocation_error"
REJECTED, FAILED = "rejected", "failed"  # answered with an error before / instead of an invocation
# Label values of INVOKER_INVOCATION_TASKS `status` (the real server's).
TASK_STARTED, TASK_COMPLETED, TASK_SUSPENDED, TASK_FAILED = "started", "completed", "suspended", "failed"
# The statuses counted by PARTITION_INVOCATIONS (completed ones are not a gauge: see PARTITION_COMPLETED).
LIVE_STATUSES = ("scheduled", "inboxed", "invoked", "suspended", "paused")

_P = ("partition_id",)
_FSYNC_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _name(full: str) -> str:
    """The constructor name of a counter (prometheus-client appends `_total` itself)."""
    return full.removesuffix("_total")


ingress_requests = Counter(
    _name(INGRESS_REQUESTS),
    "Ingress requests by status: admitted, completed, invocation_error, rejected, failed",
    ("status", "rpc_service", "rpc_type"),
)
invoker_enqueue = Counter(_name(INVOKER_ENQUEUE), "Invocations handed to the invoker", _P)
invoker_tasks = Counter(
    _name(INVOKER_INVOCATION_TASKS), "Invocation attempts: started, completed, suspended, failed", _P + ("status",)
)
invoker_retries = Counter(_name(INVOKER_RETRIES), "Failed attempts that scheduled a retry", _P)
invoker_client_requests = Counter(
    _name(INVOKER_CLIENT_REQUESTS), "Responses received from deployments", _P + ("deployment_id", "status_code")
)
invoker_task_duration = Histogram(
    INVOKER_TASK_DURATION, "Duration of one invocation attempt", _P, buckets=_TASK_BUCKETS
)
partition_start = Counter(_name(PARTITION_START), "Starts of a partition process", _P)
partition_commands = Counter(_name(PARTITION_COMMANDS), "Commands applied by the partition state machine", _P)
partition_batch_size = Histogram(
    PARTITION_BATCH_SIZE, "Commands per committed batch (one fsync each)", _P, buckets=_BATCH_BUCKETS
)
partition_fsync = Histogram(PARTITION_FSYNC, "Duration of one batch commit (fsynced)", _P, buckets=_FSYNC_BUCKETS)
partition_journal_entries = Counter(_name(PARTITION_JOURNAL_ENTRIES), "Journal entries written", _P)
partition_invocations = Gauge(
    PARTITION_INVOCATIONS, "Invocations not completed, by status", _P + ("status",), multiprocess_mode="livesum"
)
partition_completed = Counter(
    _name(PARTITION_COMPLETED), "Invocations completed, by outcome: success, failure", _P + ("outcome",)
)
partition_inbox = Gauge(
    PARTITION_INBOX, "Entries waiting in the inboxes of virtual objects/workflows", _P, multiprocess_mode="livesum"
)
partition_timers = Gauge(PARTITION_TIMERS, "Durable timers stored (armed)", _P, multiprocess_mode="livesum")
partition_heartbeat = Gauge(
    PARTITION_HEARTBEAT, "Unix time of the partition loop's last heartbeat", _P, multiprocess_mode="livemax"
)
partition_leader = Gauge(
    PARTITION_LEADER, "Cluster mode: 1 for the node leading the partition, as this node last saw it", _P + ("node",),
    multiprocess_mode="livemax",
)  # fmt: skip
num_partitions = Gauge(NUM_PARTITIONS, "Number of partitions", ("node",), multiprocess_mode="livemax")
process_up = Gauge(PROCESS_UP, "1 while the child process runs", ("process",), multiprocess_mode="livemax")
process_pid = Gauge(PROCESS_PID, "The pid of the child process", ("process",), multiprocess_mode="livemax")
_SUB = ("subscription", "topic")
kafka_records_consumed = Counter(_name(KAFKA_REQUESTS), "Kafka records read by a subscription's consumer", _SUB)
kafka_invocations_created = Counter(_name(KAFKA_INVOCATIONS), "Kafka records made durable as invocations", _SUB)
kafka_records_parked = Counter(_name(KAFKA_PARKED), "Kafka records that could not become invocations (parked)", _SUB)
kafka_parked_now = Gauge(
    "restate_kafka_parked_records", "Kafka records parked now, waiting for an operator", ("subscription",),
    multiprocess_mode="livemax",
)  # fmt: skip
kafka_errors = Counter(_name(KAFKA_ERRORS), "Errors of a subscription's consumer, by kind", ("subscription", "kind"))
kafka_lag = Gauge(
    KAFKA_LAG, "Records of a topic partition not consumed yet", ("subscription", "topic", "partition"),
    multiprocess_mode="livemax",
)  # fmt: skip
process_restarts = Counter(_name(PROCESS_RESTARTS), "Restarts of a child process by the supervisor", ("process",))


class PartitionMetrics:
    """The children of one partition, bound once. The loop records per batch into pending values (see
    restate/metrics_pending.py), written to the metric files by publish() (once a second, and at a clean stop);
    the heartbeat and the start counter are written at once."""

    def __init__(self, index: int) -> None:
        label = str(index)
        self.label = label
        self.commands = PendingCounter(partition_commands.labels(label))
        self.batch_size = PendingHistogram(partition_batch_size.labels(label))
        self.fsync = PendingHistogram(partition_fsync.labels(label))
        self.journal_entries = PendingCounter(partition_journal_entries.labels(label))
        self.invocations = {
            status: PendingGauge(partition_invocations.labels(label, status)) for status in LIVE_STATUSES
        }
        self.success = PendingCounter(partition_completed.labels(label, "success"))
        self.failure = PendingCounter(partition_completed.labels(label, "failure"))
        self.inbox = PendingGauge(partition_inbox.labels(label))
        self.timers = PendingGauge(partition_timers.labels(label))
        self.heartbeat = partition_heartbeat.labels(label)
        self.start = partition_start.labels(label)
        self._pending: list[PendingCounter | PendingHistogram | PendingGauge] = [
            self.commands, self.batch_size, self.fsync, self.journal_entries, *self.invocations.values(),
            self.success, self.failure, self.inbox, self.timers,
        ]  # fmt: skip

    def publish(self) -> None:
        """Writes what was recorded since the last publish."""
        for value in self._pending:
            value.publish()


class InvokerMetrics:
    """The invoker's children for one partition, pending until publish() as PartitionMetrics' are;
    `response` caches per (deployment, status code)."""

    def __init__(self, partition: int | None) -> None:
        label = "" if partition is None else str(partition)
        self.label = label
        self.enqueue = PendingCounter(invoker_enqueue.labels(label))
        self.started = PendingCounter(invoker_tasks.labels(label, TASK_STARTED))
        self.completed = PendingCounter(invoker_tasks.labels(label, TASK_COMPLETED))
        self.suspended = PendingCounter(invoker_tasks.labels(label, TASK_SUSPENDED))
        self.failed = PendingCounter(invoker_tasks.labels(label, TASK_FAILED))
        self.retries = PendingCounter(invoker_retries.labels(label))
        self.duration = PendingHistogram(invoker_task_duration.labels(label))
        self._responses: dict[tuple[str, int], PendingCounter] = {}
        self._pending: list[PendingCounter | PendingHistogram] = [
            self.enqueue, self.started, self.completed, self.suspended, self.failed, self.retries, self.duration,
        ]  # fmt: skip

    def response(self, deployment_id: str, status_code: int) -> None:
        """Counts one response head received from a deployment (it was reached)."""
        child = self._responses.get((deployment_id, status_code))
        if child is None:
            child = PendingCounter(invoker_client_requests.labels(self.label, deployment_id, str(status_code)))
            self._responses[(deployment_id, status_code)] = child
            self._pending.append(child)
        child.inc()

    def publish(self) -> None:
        """Writes what was recorded since the last publish."""
        for value in self._pending:
            value.publish()


_ingress_children: dict[tuple[str, str, str], Counter] = {}


def ingress_request(status: str, service: str = "", rpc_type: str = "") -> None:
    """Counts one ingress request event (`rpc_type`: call, send, or "" outside the service routes)."""
    key = (status, service, rpc_type)
    child = _ingress_children.get(key)
    if child is None:
        child = _ingress_children[key] = ingress_requests.labels(status, service, rpc_type)
    child.inc()


# --- exposition and the multi-process set-up ------------------------------------------------------------


def setup_multiprocess(path: str | Path) -> Path:
    """Makes this process and the children it forks record into `path` (emptied first)."""
    directory = Path(path)
    if directory.exists():
        for stale in directory.glob("*.db"):
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values = sys.modules["prometheus_client.values"]
    values.ValueClass = values.MultiProcessValue()  # type: ignore[attr-defined]  # children from now on use files
    return directory


def multiprocess_dir() -> str | None:
    value = os.environ.get(MULTIPROC_ENV)
    return value if value and Path(value).is_dir() else None


def registry() -> CollectorRegistry:
    """A registry aggregating every process of this server (or this process's, outside multiprocess mode)."""
    path = multiprocess_dir()
    if path is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path)
    return aggregate


def exposition(source: CollectorRegistry) -> bytes:
    """The Prometheus text format of `source` (reads every process's file in multiprocess mode)."""
    return generate_latest(source)


def process_died(pid: int) -> None:
    """Drops the live gauges of a dead child (its counters and histograms keep counting in the sums)."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(pid, path)
