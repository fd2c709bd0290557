"""`restate up`: the metrics and dashboard options reach the supervisor; bad addresses are usage errors."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from restate.actors import supervisor
from restate.config import Config


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Config, bool]]:
    calls: list[tuple[Config, bool]] = []

    def run(config: Config, dashboard: bool = False) -> None:
        calls.append((config, dashboard))

    monkeypatch.setattr(supervisor, "run", run)
    return calls


def up(*args: str, **env: Any) -> int:
    return CliRunner().invoke(app, ["up", *args], env={"RESTATE_BIND_ADDRESS": None, **env}).exit_code


def test_defaults_no_dashboard_without_a_terminal(started: list[tuple[Config, bool]]) -> None:
    assert up() == 0
    config, dashboard = started[0]
    assert (config.node_metrics_bind_address, dashboard) == ("127.0.0.1:5122", False)


def test_flags_and_environment(started: list[tuple[Config, bool]]) -> None:
    assert up("--node-metrics-bind-address", "127.0.0.1:6000", "--dashboard") == 0
    assert started[-1][0].node_metrics_bind_address == "127.0.0.1:6000" and started[-1][1] is True
    assert up(RESTATE_BIND_ADDRESS="0.0.0.0:7000") == 0
    assert started[-1][0].node_metrics_bind_address == "0.0.0.0:7000"
    assert up("--node-metrics-bind-address", "") == 0
    assert started[-1][0].node_metrics_bind_address == ""


def test_a_bad_metrics_address_is_a_usage_error(started: list[tuple[Config, bool]]) -> None:
    assert up("--node-metrics-bind-address", "nowhere") == 2
    assert started == []
