"""The cluster configuration file: appends-in-flight, append-linger, replication-factor and trim-every
(defaults, bounds, errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from restate.cluster.cluster_config import load_cluster_config
from restate.config import ConfigError

_FILE = """etcd-endpoints = ["127.0.0.1:2379"]
{extra}
[nodes.n1]
bus-address = "127.0.0.1:5301"
ingress-address = "127.0.0.1:8080"
admin-address = "127.0.0.1:9070"
"""


def _load(tmp_path: Path, extra: str) -> int:
    path = tmp_path / "cluster.toml"
    path.write_text(_FILE.format(extra=extra))
    return load_cluster_config(str(path), "n1").appends_in_flight


def test_appends_in_flight_defaults_to_one_and_can_be_set(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == 1
    assert _load(tmp_path, "appends-in-flight = 4") == 4
    assert _load(tmp_path, "appends-in-flight = 64") == 64


@pytest.mark.parametrize("value", ["0", "65", "true", '"4"'])
def test_appends_in_flight_out_of_bounds_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"^appends-in-flight \(in .*\): must be an integer between 1 and 64, got "):
        _load(tmp_path, f"appends-in-flight = {value}")


def _nodes_file(tmp_path: Path, count: int, extra: str) -> Path:
    lines = ['etcd-endpoints = ["127.0.0.1:2379"]', extra]
    for i in range(1, count + 1):
        lines += [
            f"[nodes.n{i}]",
            f'bus-address = "127.0.0.1:{5300 + 10 * i}"',
            f'ingress-address = "127.0.0.1:{8080 + i}"',
            f'admin-address = "127.0.0.1:{9070 + i}"',
        ]
    path = tmp_path / "cluster.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (2, 2), (3, 2), (5, 2)])
def test_replication_factor_defaults_to_two_and_never_to_more_than_the_nodes(
    tmp_path: Path, count: int, expected: int
) -> None:
    assert load_cluster_config(str(_nodes_file(tmp_path, count, "")), "n1").replication_factor == expected


def test_replication_factor_can_be_set_up_to_the_number_of_nodes(tmp_path: Path) -> None:
    for factor in (1, 2, 3):
        path = _nodes_file(tmp_path, 3, f"replication-factor = {factor}")
        assert load_cluster_config(str(path), "n1").replication_factor == factor


@pytest.mark.parametrize("value", ["0", "4", "true", '"2"'])
def test_replication_factor_out_of_bounds_is_refused(tmp_path: Path, value: str) -> None:
    path = _nodes_file(tmp_path, 3, f"replication-factor = {value}")
    pattern = r"^replication-factor \(in .*\): must be an integer between 1 and the number of nodes \(3\), got "
    with pytest.raises(ConfigError, match=pattern):
        load_cluster_config(str(path), "n1")


def test_trim_every_defaults_to_a_thousand_entries_and_can_be_set(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(_FILE.format(extra=""))
    assert load_cluster_config(str(path), "n1").trim_every == 1000
    path.write_text(_FILE.format(extra="trim-every = 20"))
    assert load_cluster_config(str(path), "n1").trim_every == 20
    for value in ("0", "true", '"20"'):
        path.write_text(_FILE.format(extra=f"trim-every = {value}"))
        with pytest.raises(ConfigError, match=r"^trim-every \(in .*\): must be an integer between 1 and 1000000"):
            load_cluster_config(str(path), "n1")


def test_append_linger_is_a_duration_of_2ms_by_default(tmp_path: Path) -> None:
    assert load_cluster_config(str(_nodes_file(tmp_path, 1, "")), "n1").append_linger_us == 2000
    path = _nodes_file(tmp_path, 1, 'append-linger = "0ms"')
    assert load_cluster_config(str(path), "n1").append_linger_us == 0
    path = _nodes_file(tmp_path, 1, 'append-linger = "2ms"')
    assert load_cluster_config(str(path), "n1").append_linger_us == 2000
    path = _nodes_file(tmp_path, 1, 'append-linger = "500us"')
    assert load_cluster_config(str(path), "n1").append_linger_us == 500


@pytest.mark.parametrize("value", ['"101ms"', "2", '"soon"'])
def test_append_linger_out_of_bounds_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"^append-linger \(in .*\): "):
        load_cluster_config(str(_nodes_file(tmp_path, 1, f"append-linger = {value}")), "n1")


def test_a_nodes_bus_range_gives_every_process_a_port_the_kafka_process_after_the_partitions(tmp_path: Path) -> None:
    from restate.cluster.cluster_config import bus_directory

    path = tmp_path / "cluster.toml"
    path.write_text(_FILE.format(extra="num-partitions = 3"))
    endpoint = bus_directory(load_cluster_config(str(path), "n1")).endpoint
    found = [endpoint("n1", p) for p in ("admin", "ingress", "p0", "p1", "p2", "kafka")]
    assert found == [f"tcp://127.0.0.1:{port}" for port in range(5301, 5307)]


def test_replace_dead_node_after_is_off_by_default_and_at_least_a_lease_ttl(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"

    def load(extra: str) -> float:
        path.write_text(_FILE.format(extra=extra))
        return load_cluster_config(str(path), "n1").replace_dead_node_after_s

    assert load("") == 0.0
    assert load('replace-dead-node-after = "0s"') == 0.0
    assert load('replace-dead-node-after = "10min"') == 600.0
    assert load('lease-ttl = "5s"\nreplace-dead-node-after = "5s"') == 5.0
    for wrong in ['"1s"', "30", '"soon"']:
        with pytest.raises(ConfigError, match=r"^replace-dead-node-after \(in .*\): "):
            load(f"replace-dead-node-after = {wrong}")
