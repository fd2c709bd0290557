"""The dashboard: metrics text -> snapshot -> view (rates, percentiles, liveness) -> rendered rows."""

from __future__ import annotations

import io

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from rich.cells import cell_len
from rich.console import Console

from restate import metrics
from restate.dashboard.live import Poller, SourceError
from restate.dashboard.model import Histogram, View, build_view, parse
from restate.dashboard.render import COLUMNS, render

WALL = 1_800_000_000.0


def scrape(
    commands: int,
    fsync_fast: int,
    fsync_slow: int,
    ingress_ok: int,
    ingress_errors: int,
    heartbeat: float = WALL,
    p1_up: int = 1,
) -> str:
    """Two partitions; p0 does the work (fsyncs of <=1 ms and <=8 ms), p1 idles with one suspended invocation."""
    total = fsync_fast + fsync_slow
    return f"""\
# TYPE restate_num_partitions gauge
restate_num_partitions{{node="N1"}} 2
# TYPE restate_process_up gauge
restate_process_up{{process="admin"}} 1
restate_process_up{{process="ingress"}} 1
restate_process_up{{process="p0"}} 1
restate_process_up{{process="p1"}} {p1_up}
# TYPE restate_process_pid gauge
restate_process_pid{{process="p0"}} 4242
restate_process_pid{{process="p1"}} 4243
# TYPE restate_partition_heartbeat_timestamp_seconds gauge
restate_partition_heartbeat_timestamp_seconds{{partition_id="0"}} {heartbeat}
restate_partition_heartbeat_timestamp_seconds{{partition_id="1"}} {WALL - 60}
# TYPE restate_partition_invocations gauge
restate_partition_invocations{{partition_id="0",status="invoked"}} 3
restate_partition_invocations{{partition_id="0",status="inboxed"}} 7
restate_partition_invocations{{partition_id="0",status="scheduled"}} 1
restate_partition_invocations{{partition_id="1",status="suspended"}} 1
# TYPE restate_partition_timers gauge
restate_partition_timers{{partition_id="0"}} 5
restate_partition_timers{{partition_id="1"}} 2
# TYPE restate_partition_commands_applied counter
restate_partition_commands_applied_total{{partition_id="0"}} {commands}
# TYPE restate_partition_commit_batch_size histogram
restate_partition_commit_batch_size_bucket{{le="4.0",partition_id="0"}} {total}
restate_partition_commit_batch_size_bucket{{le="+Inf",partition_id="0"}} {total}
restate_partition_commit_batch_size_sum{{partition_id="0"}} {commands}
restate_partition_commit_batch_size_count{{partition_id="0"}} {total}
# TYPE restate_partition_fsync_duration_seconds histogram
restate_partition_fsync_duration_seconds_bucket{{le="0.001",partition_id="0"}} {fsync_fast}
restate_partition_fsync_duration_seconds_bucket{{le="0.008",partition_id="0"}} {total}
restate_partition_fsync_duration_seconds_bucket{{le="+Inf",partition_id="0"}} {total}
restate_partition_fsync_duration_seconds_sum{{partition_id="0"}} 0.1
restate_partition_fsync_duration_seconds_count{{partition_id="0"}} {total}
# TYPE restate_invoker_invocation_tasks counter
restate_invoker_invocation_tasks_total{{partition_id="0",status="started"}} 40
restate_invoker_invocation_tasks_total{{partition_id="0",status="failed"}} 2
restate_invoker_invocation_tasks_total{{partition_id="1",status="started"}} 1
# TYPE restate_invoker_client_requests counter
restate_invoker_client_requests_total{{partition_id="0",deployment_id="dp_a",status_code="200"}} 38
restate_invoker_client_requests_total{{partition_id="0",deployment_id="dp_b",status_code="500"}} 2
restate_invoker_client_requests_total{{partition_id="1",deployment_id="dp_c",status_code="200"}} 1
# TYPE restate_ingress_requests counter
restate_ingress_requests_total{{rpc_service="Greeter",rpc_type="call",status="admitted"}} {ingress_ok + ingress_errors}
restate_ingress_requests_total{{rpc_service="Greeter",rpc_type="call",status="completed"}} {ingress_ok}
restate_ingress_requests_total{{rpc_service="",rpc_type="",status="rejected"}} {ingress_errors}
"""


def two_frames() -> tuple[str, str]:
    first = scrape(commands=100, fsync_fast=10, fsync_slow=0, ingress_ok=50, ingress_errors=0)
    return first, scrape(commands=300, fsync_fast=60, fsync_slow=40, ingress_ok=150, ingress_errors=10)


def view_of(first: str, second: str, seconds: float = 2.0) -> View:
    return build_view(parse(second, 10.0 + seconds, WALL), parse(first, 10.0, WALL - seconds))


def test_histogram_quantile_interpolates_inside_buckets() -> None:
    h = Histogram({0.001: 50.0, 0.008: 100.0, float("inf"): 100.0}, 0.1, 100.0)
    assert h.quantile(0.5) == pytest.approx(0.001)
    assert h.quantile(0.75) == pytest.approx(0.001 + 0.007 * 0.5)
    assert Histogram().quantile(0.5) is None
    assert Histogram({0.001: 0.0, float("inf"): 4.0}, 1.0, 4.0).quantile(0.99) == 0.001  # beyond the last bound


def test_view_rates_percentiles_and_liveness() -> None:
    view = view_of(*two_frames())
    p0, p1 = view.rows
    assert (p0.partition, p0.pid, p0.liveness) == (0, 4242, "up")
    assert (p0.running, p0.inboxed, p0.scheduled, p0.timers) == (3, 7, 1, 5)
    assert p0.commands_per_s == pytest.approx(100.0)  # (300 - 100) / 2 s
    assert p0.batch_size == pytest.approx(200 / 90)  # commands / batches in the window
    # 50 of the 90 fsyncs in the window took <= 1 ms, 40 took 1..8 ms
    assert p0.fsync_p50_ms == pytest.approx(1.0 * 45 / 50)
    assert p0.fsync_p99_ms == pytest.approx(1.0 + 7.0 * (89.1 - 50) / 40)
    assert (p0.attempts, p0.failures, p0.deployments) == (40, 2, 1)  # dp_b only answered 500
    assert (p1.liveness, p1.suspended, p1.commands_per_s, p1.fsync_p50_ms) == ("stalled", 1, 0.0, None)
    assert view.totals.liveness == "1/2 up"
    assert (view.totals.running, view.totals.suspended, view.totals.timers) == (3, 1, 7)
    assert view.totals.deployments == 2
    assert view.ingress_rps == pytest.approx(55.0)  # (100 completed + 10 rejected) / 2 s
    assert view.ingress_errors_rps == pytest.approx(5.0)
    assert view.processes == {"admin": True, "ingress": True}


def test_a_dead_partition_is_down_and_the_first_frame_has_no_rates() -> None:
    text = scrape(commands=1, fsync_fast=1, fsync_slow=0, ingress_ok=0, ingress_errors=0, p1_up=0)
    view = build_view(parse(text, 1.0, WALL), None)
    assert [r.liveness for r in view.rows] == ["up", "down"]
    assert view.ingress_rps is None and view.rows[0].commands_per_s is None


@pytest.mark.parametrize(("up", "pid", "shown"), [(1, 4244, True), (0, 4244, False), (0, 0, None)])
def test_the_kafka_process_is_down_only_when_it_died_not_when_stopped_for_want_of_subscriptions(
    up: int, pid: int, shown: bool | None
) -> None:
    text = scrape(commands=1, fsync_fast=1, fsync_slow=0, ingress_ok=0, ingress_errors=0)
    text += f'restate_process_up{{process="kafka"}} {up}\nrestate_process_pid{{process="kafka"}} {pid}\n'
    view = build_view(parse(text, 1.0, WALL), None)
    assert view.processes.get("kafka") == shown  # None: not listed, as before the first subscription


def test_render_has_one_row_per_partition_totals_and_ingress() -> None:
    view = view_of(*two_frames())
    view.source = "http://127.0.0.1:9070"
    view.deployments_registered = 3
    console = Console(record=True, width=200, color_system=None)
    console.print(render(view))
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0].startswith("restate  http://127.0.0.1:9070  partitions 2  deployments registered 3")
    header = next(line for line in lines if "pid" in line)
    for column in ("pid", "live", "running", "suspended", "inboxed", "scheduled", "timers", "cmd/s", "fsync p99"):
        assert column in header
    p0 = next(line for line in lines if "│ p0" in line)
    assert [cell.strip() for cell in p0.split("│")[1:-1]] == [
        "p0", "4242", "up", "3", "0", "7", "1", "5", "100", "2.2", "0.90ms", "7.84ms", "40", "2", "1",
    ]  # fmt: skip
    assert any("│ p1" in line and "stalled" in line for line in lines)
    assert any("│ total" in line and "1/2 up" in line for line in lines)
    assert "ingress 55.0 req/s   errors 5.0 req/s (9.1%)   rates over the last 2.0s" in text


def frame_lines(view: View, width: int, wide: bool = False) -> list[str]:
    console = Console(file=io.StringIO(), record=True, width=width, color_system=None)
    console.print(render(view, wide=wide))
    return console.export_text().splitlines()


def test_render_fits_80_columns_with_whole_headers_and_wide_shows_all() -> None:
    view = view_of(*two_frames())
    view.source = "http://127.0.0.1:9070"
    view.deployments_registered = 3
    lines = frame_lines(view, 80)
    assert max(cell_len(line) for line in lines) <= 80
    header = next(line for line in lines if "┃ partition" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "partition", "live", "running", "suspended", "cmd/s", "fsync p99", "failures",
    ]  # fmt: skip
    p0 = next(line for line in lines if "│ p0" in line)
    assert [cell.strip() for cell in p0.split("│")[1:-1]] == ["p0", "up", "3", "0", "100", "7.84ms", "2"]
    # the header line breaks between its pieces, never inside one
    assert lines[:2] == [
        "restate  http://127.0.0.1:9070  partitions 2  deployments registered 3  admin up",
        "ingress up",
    ]
    wide = frame_lines(view, 200, wide=True)
    header = next(line for line in wide if "┃ partition" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [column.header for column in COLUMNS]


def test_metric_names_round_trip_from_the_definitions() -> None:
    """What restate.metrics records is what the dashboard reads (names and labels agree)."""
    part = metrics.PartitionMetrics(905)
    part.commands.inc(12)
    part.invocations["suspended"].set(4)
    part.fsync.observe(0.003)
    invoker = metrics.InvokerMetrics(905)
    invoker.started.inc(3)
    invoker.failed.inc()
    invoker.response("dp_x", 200)
    before = parse(generate_latest(REGISTRY).decode(), 1.0, WALL).partitions.get(905)
    assert before is None or (before.commands, before.attempts) == (0, 0)  # pending until published
    part.publish()
    invoker.publish()
    snap = parse(generate_latest(REGISTRY).decode(), 1.0, WALL)
    sample = snap.partitions[905]
    assert (sample.commands, sample.invocations["suspended"], sample.attempts, sample.failures) == (12, 4, 3, 1)
    assert sample.fsync.count == 1 and sample.deployments == {"dp_x"}


def test_poller_computes_rates_between_polls() -> None:
    first, second = two_frames()
    answers = iter([first, second])
    clock = iter([10.0, 12.0])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(200, text=next(answers))
        return httpx.Response(200, json={"deployments": [{"id": "dp_a"}]})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    poller = Poller("http://admin.test/", client, clock=lambda: next(clock), wall=lambda: WALL)
    assert poller.poll().ingress_rps is None
    view = poller.poll()
    poller.close()
    assert view.ingress_rps == pytest.approx(55.0)
    assert (view.source, view.deployments_registered) == ("http://admin.test", 1)


def test_poller_reports_an_unreachable_admin() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    poller = Poller("http://admin.test", httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(SourceError, match="cannot reach the admin API at http://admin.test"):
        poller.poll()
    poller.close()


def test_cluster_mode_shows_the_node_leading_each_partition() -> None:
    leaders = """\
# TYPE restate_cluster_partition_leader gauge
restate_cluster_partition_leader{node="n1",partition_id="0"} 0
restate_cluster_partition_leader{node="n2",partition_id="0"} 1
restate_cluster_partition_leader{node="n1",partition_id="1"} 1
"""
    first, second = two_frames()
    view = view_of(first + leaders, second + leaders)
    assert [row.leader for row in view.rows] == ["n2", "n1"]
    lines = frame_lines(view, 80)
    assert max(cell_len(line) for line in lines) <= 80
    header = next(line for line in lines if "┃ partition" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]][:3] == ["partition", "node", "live"]
    p0 = next(line for line in lines if "│ p0" in line)
    assert [cell.strip() for cell in p0.split("│")[1:-1]][:3] == ["p0", "n2", "up"]
    total = next(line for line in lines if "│ total" in line)
    assert [cell.strip() for cell in total.split("│")[1:-1]][:2] == ["total", ""]


def test_the_leader_gauge_round_trips_from_its_definition() -> None:
    metrics.partition_leader.labels("906", "n3").set(1)
    snap = parse(generate_latest(REGISTRY).decode(), 1.0, WALL)
    assert snap.partitions[906].leader == "n3"
