"""`restate cluster move-replica`: the checks of a move (pure: `plan_move`) and the command's argument checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from restate.cluster.replica_move import plan_move

LIVE = {"n2", "n3"}  # n1 is dead


def test_the_target_takes_the_sources_place_and_the_caught_up_replicas_are_named() -> None:
    assert plan_move(0, ["n1", "n2"], "n1", "n3", LIVE, {"n2": 40}, 30) == (["n3", "n2"], ["n2"])
    assert plan_move(0, ["n2", "n1"], "n1", "n3", LIVE, {"n2": 29, "n1": 50}, 30) == (["n2", "n3"], ["n2"])
    everyone = {"n1", "n2", "n3", "n4"}
    assert plan_move(1, ["n1", "n2", "n3"], "n2", "n4", everyone, {"n1": 5, "n3": 5}, 1) == (
        ["n1", "n4", "n3"],
        ["n1", "n3"],
    )


@pytest.mark.parametrize(
    ("replicas", "source", "target", "applied", "trim", "message"),
    [
        (["n1", "n2"], "n1", "n1", {}, 1, "name the same node"),
        ([], "n1", "n3", {}, 1, "partition 0 is not placed yet"),
        (["n1", "n2"], "n3", "n2", {}, 1, "'n3' holds no replica of partition 0"),
        (["n1", "n2"], "n1", "n2", {}, 1, "'n2' already holds a replica of partition 0"),
        (["n2", "n3"], "n2", "n1", {}, 1, "'n1' is not alive"),
        (["n1", "n2"], "n2", "n3", {"n1": 90, "n2": 90}, 1, "refusing to drop 'n2'"),  # n1 dead: n2 the only copy
        (["n2", "n3"], "n2", "n1x", {}, 1, "'n1x' is not alive"),
        (["n2", "n3"], "n3", "n4", {"n2": 10}, 30, "n4"),  # n4 is not alive either
        (["n2", "n3"], "n3", "n1", {"n2": 10, "n3": 90}, 30, "'n1' is not alive"),
        (["n2", "n3"], "n3", "n2", {}, 1, "already holds"),
    ],
)
def test_a_move_that_is_not_allowed_is_refused_saying_why(
    replicas: list[str], source: str, target: str, applied: dict[str, int], trim: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan_move(0, replicas, source, target, LIVE, applied, trim)


def test_a_replica_behind_the_trim_point_is_not_caught_up_and_one_not_reported_neither() -> None:
    live = {"n1", "n2", "n3", "n4"}
    with pytest.raises(ValueError, match="refusing to drop 'n1'"):
        plan_move(0, ["n1", "n2"], "n1", "n4", live, {"n1": 90, "n2": 28}, 30)  # n2 needs entry 29: trimmed
    with pytest.raises(ValueError, match="refusing to drop 'n1'"):
        plan_move(0, ["n1", "n2"], "n1", "n4", live, {"n1": 90}, 1)  # n2 never reported
    assert plan_move(0, ["n1", "n2"], "n1", "n4", live, {"n1": 90, "n2": 29}, 30)[1] == ["n2"]


_FILE = """cluster-name = "c"
etcd-endpoints = ["127.0.0.1:1"]
num-partitions = 2
[nodes.n1]
bus-address = "127.0.0.1:5301"
ingress-address = "127.0.0.1:8080"
admin-address = "127.0.0.1:9070"
[nodes.n2]
bus-address = "127.0.0.1:5401"
ingress-address = "127.0.0.1:8081"
admin-address = "127.0.0.1:9071"
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2", "--from", "n1", "--to", "n2"], "partition 2 does not exist (the cluster has 2)"),
        (["0", "--from", "n9", "--to", "n2"], "node 'n9' is not in the cluster file"),
        (["0", "--from", "n1", "--to", "n7"], "node 'n7' is not in the cluster file"),
    ],
)
def test_the_command_refuses_unknown_partitions_and_nodes_before_asking_etcd(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    path = tmp_path / "cluster.toml"
    path.write_text(_FILE)
    result = CliRunner().invoke(app, ["cluster", "move-replica", *args, "--cluster-config", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
