"""`restate up`: the options reach the supervisor; bad input is one line and exit 2, a failed start one line and 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from restate.actors import supervisor
from restate.actors.startup import StartupError
from restate.config import Config


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Config, bool]]:
    calls: list[tuple[Config, bool]] = []

    def run(config: Config, dashboard: bool = False) -> None:
        calls.append((config, dashboard))

    monkeypatch.setattr(supervisor, "run", run)
    return calls


def invoke_up(*args: str, **env: Any) -> Result:
    return CliRunner().invoke(app, ["up", *args], env={"RESTATE_BIND_ADDRESS": None, "RESTATE_CONFIG": None, **env})


def up(*args: str, **env: Any) -> int:
    return invoke_up(*args, **env).exit_code


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


@pytest.mark.parametrize(
    ("args", "env", "toml", "message"),
    [
        ((), {}, "[ingress\n", "error: cannot read config file {file}: Expected ']' at the end of a table declaration"),
        ((), {}, "ingress = 5\n", "error: ingress (in {file}): expected a table, got 5"),
        (
            (),
            {},
            '[worker.invoker]\nabort-timeout = "5 parsecs"\n',
            "error: worker.invoker.abort-timeout (in {file}): ",
        ),
        (
            ("--ingress-bind-address", "nonsense"),
            {},
            "",
            "error: ingress.bind-address: expected HOST:PORT, got 'nonsense'",
        ),
        (("--admin-bind-address", "127.0.0.1:70000"), {}, "", "error: admin.bind-address: port 70000 is out of range"),
        (("--partitions", "0"), {}, "", "error: default-num-partitions: must be between 1 and 1024, got 0"),
        (("--partitions", "-1"), {}, "", "error: default-num-partitions: must be between 1 and 1024, got -1"),
        ((), {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "1 fortnight"}, "", "error: RESTATE_WORKER__INVOKER__"),
        ((), {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "-1m"}, "", "error: RESTATE_WORKER__INVOKER__"),
    ],
    ids=["toml", "not-a-table", "duration", "nonsense", "port", "partitions-0", "partitions-neg", "unit", "negative"],
)
def test_bad_input_is_one_line_and_exit_2(
    started: list[tuple[Config, bool]],
    tmp_path: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    toml: str,
    message: str,
) -> None:
    file = tmp_path / "restate.toml"
    file.write_text(toml)
    result = invoke_up("--config-file", str(file), *args, **env)
    assert result.exit_code == 2
    assert result.output.startswith(message.format(file=file)), result.output
    assert result.output.count("\n") == 1
    assert started == []


def test_a_failed_start_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(config: Config, dashboard: bool = False) -> None:
        raise StartupError("ingress: cannot listen on 127.0.0.1:8080: Address already in use")

    monkeypatch.setattr(supervisor, "run", run)
    result = invoke_up()
    assert (result.exit_code, result.output) == (
        1,
        "error: ingress: cannot listen on 127.0.0.1:8080: Address already in use\n",
    )
