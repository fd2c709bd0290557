"""The dashboard's Kafka line: per subscription, read rate, invocations, lag, parked records and errors."""

from __future__ import annotations

from restate.dashboard.model import build_view, parse
from restate.dashboard.render import frame

WALL = 1_800_000_000.0
SUB = "sub_1020ZhuLtXKOXg0DnE8ERnr"


def scrape(read: int, parked: int) -> str:
    return f"""\
# TYPE restate_num_partitions gauge
restate_num_partitions{{node="N1"}} 1
# TYPE restate_kafka_ingress_requests counter
restate_kafka_ingress_requests_total{{subscription="{SUB}",topic="t1"}} {read}
# TYPE restate_kafka_invocations_created counter
restate_kafka_invocations_created_total{{subscription="{SUB}",topic="t1"}} {read - parked}
# TYPE restate_kafka_records_parked counter
restate_kafka_records_parked_total{{subscription="{SUB}",topic="t1"}} {parked}
# TYPE restate_kafka_parked_records gauge
restate_kafka_parked_records{{subscription="{SUB}"}} {parked}
# TYPE restate_kafka_errors counter
restate_kafka_errors_total{{subscription="{SUB}",kind="KafkaException"}} 2
# TYPE restate_kafka_consumer_lag gauge
restate_kafka_consumer_lag{{partition="0",subscription="{SUB}",topic="t1"}} 30
restate_kafka_consumer_lag{{partition="1",subscription="{SUB}",topic="t1"}} 12
"""


def test_a_line_per_subscription_with_its_rate_invocations_lag_parked_and_errors() -> None:
    view = build_view(parse(scrape(1300, 1), 12.0, WALL), parse(scrape(100, 0), 10.0, WALL - 2))
    [row] = view.kafka
    found = (row.subscription, row.read_rps, row.created, row.lag, row.parked, row.errors)
    assert found == (SUB, 600.0, 1299, 42, 1, 2)
    [line] = [str(part) for part in frame(view) if str(part).startswith("kafka ")]
    assert line == f"kafka {SUB}  600 rec/s  invoked 1,299  lag 42  parked 1  errors 2"


def test_the_first_frame_has_no_rate_and_no_subscriptions_no_line() -> None:
    [row] = build_view(parse(scrape(5, 0), 1.0, WALL), None).kafka
    assert row.read_rps is None
    empty = build_view(parse('restate_num_partitions{node="N1"} 1\n', 1.0, WALL), None)
    assert empty.kafka == [] and not [p for p in frame(empty) if str(p).startswith("kafka ")]
