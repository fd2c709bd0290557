"""The cluster configuration file: the appends-in-flight setting (its default, its bounds, its errors)."""

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
