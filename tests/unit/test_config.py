"""Server configuration: file < environment < explicit overrides; invalid values are ConfigErrors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from restate.config import Config, ConfigError, load, parse_bind_address

TOML = """
base-dir = "/data/from-file"
default-num-partitions = 8

[ingress]
bind-address = "0.0.0.0:18080"
request-size-limit = 1024

[admin]
bind-address = "0.0.0.0:19070"

[worker.invoker]
inactivity-timeout = "1500ms"
abort-timeout = "9000ms"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "restate.toml"
    path.write_text(TOML)
    return path


def test_defaults() -> None:
    config = load(env={})
    assert config == Config()
    assert config.default_num_partitions == max(2, os.cpu_count() or 2)  # one partition process per core
    assert config.host_port("ingress") == ("127.0.0.1", 8080)
    assert config.host_port("admin") == ("127.0.0.1", 9070)


def test_file_values(config_file: Path) -> None:
    config = load(str(config_file), env={})
    assert config.base_dir == "/data/from-file"
    assert config.default_num_partitions == 8
    assert config.ingress_bind_address == "0.0.0.0:18080"
    assert config.admin_bind_address == "0.0.0.0:19070"
    assert config.request_size_limit == 1024
    assert config.inactivity_timeout_ms == 1500
    assert config.abort_timeout_ms == 9000
    assert config.retry_max_attempts == 70  # untouched defaults stay


def test_file_is_found_through_restate_config(config_file: Path) -> None:
    assert load(env={"RESTATE_CONFIG": str(config_file)}).default_num_partitions == 8


def test_env_beats_file_and_overrides_beat_env(config_file: Path) -> None:
    env = {
        "RESTATE_BASE_DIR": "/data/from-env",
        "RESTATE_DEFAULT_NUM_PARTITIONS": "16",
        "RESTATE_INGRESS__BIND_ADDRESS": "127.0.0.1:28080",
    }
    config = load(str(config_file), env=env)
    assert config.base_dir == "/data/from-env"
    assert config.default_num_partitions == 16  # converted from the env string
    assert config.ingress_bind_address == "127.0.0.1:28080"
    assert config.admin_bind_address == "0.0.0.0:19070"  # from the file

    config = load(str(config_file), env=env, overrides={"base_dir": "/data/from-flag", "default_num_partitions": None})
    assert config.base_dir == "/data/from-flag"
    assert config.default_num_partitions == 16  # None overrides are ignored
    assert config.inactivity_timeout_ms == 1500


def test_overrides_without_file_or_env() -> None:
    config = load(env={}, overrides={"default_num_partitions": 2, "admin_bind_address": "localhost:1"})
    assert config.default_num_partitions == 2
    assert config.host_port("admin") == ("localhost", 1)


@pytest.mark.parametrize(
    "env",
    [
        {"RESTATE_DEFAULT_NUM_PARTITIONS": "many"},
        {"RESTATE_DEFAULT_NUM_PARTITIONS": "0"},
        {"RESTATE_DEFAULT_NUM_PARTITIONS": "1025"},
        {"RESTATE_INGRESS__BIND_ADDRESS": "no-port"},
        {"RESTATE_INGRESS__BIND_ADDRESS": "host:99999"},
        {"RESTATE_ADMIN__BIND_ADDRESS": ":9070"},
        {"RESTATE_INGRESS__REQUEST_SIZE_LIMIT": "big"},
    ],
)
def test_bad_env_values(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load(env=env)


def test_bad_override_type() -> None:
    with pytest.raises(ConfigError):
        load(env={}, overrides={"default_num_partitions": "lots"})


def test_bad_file_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('default-num-partitions = "x"\n')
    with pytest.raises(ConfigError):
        load(str(path), env={})
    path.write_text("[ingress\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(path), env={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(tmp_path / "missing.toml"), env={})


def test_parse_bind_address() -> None:
    assert parse_bind_address("0.0.0.0:8080", "x") == ("0.0.0.0", 8080)
    assert parse_bind_address("[::1]:8080", "x") == ("[::1]", 8080)
    with pytest.raises(ConfigError, match="ingress.bind-address"):
        parse_bind_address("8080", "ingress.bind-address")
    with pytest.raises(ConfigError):
        parse_bind_address("host:0", "x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RESTATE_DEFAULT_NUM_PARTITIONS": "many"}, "RESTATE_DEFAULT_NUM_PARTITIONS: expected an integer, got 'many'"),
        ({"RESTATE_DEFAULT_NUM_PARTITIONS": "0"}, "RESTATE_DEFAULT_NUM_PARTITIONS: must be between 1 and 1024, got 0"),
        (
            {"RESTATE_INGRESS__BIND_ADDRESS": "nonsense"},
            "RESTATE_INGRESS__BIND_ADDRESS: expected HOST:PORT, got 'nonsense'",
        ),
        (
            {"RESTATE_ADMIN__BIND_ADDRESS": "h:70000"},
            "RESTATE_ADMIN__BIND_ADDRESS: port 70000 is out of range (1-65535)",
        ),
        ({"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "-5s"}, "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT: cannot"),
        (
            {"RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "5 parsecs"},
            "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT: failed to parse",
        ),
        (
            {"RESTATE_INGRESS__REQUEST_SIZE_LIMIT": "-1"},
            "RESTATE_INGRESS__REQUEST_SIZE_LIMIT: must be at least 1, got -1",
        ),
        (
            {"RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "maybe"},
            "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7: expected true or false",
        ),
        ({"RESTATE_BASE_DIR": ""}, "RESTATE_BASE_DIR: must not be empty"),
    ],
)
def test_a_bad_environment_value_is_named_by_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(env=env)
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('default-num-partitions = "x"', "default-num-partitions (in {file}): expected an integer, got 'x'"),
        ("default-num-partitions = true", "default-num-partitions (in {file}): expected an integer, got True"),
        ("default-num-partitions = -1", "default-num-partitions (in {file}): must be between 1 and 1024, got -1"),
        ("base-dir = 5", "base-dir (in {file}): expected a string, got 5"),
        ("ingress = 5", "ingress (in {file}): expected a table, got 5"),
        ("[ingress]\nbind-address = 8080", "ingress.bind-address (in {file}): expected a string, got 8080"),
        ("[ingress]\nrequest-size-limit = 0", "ingress.request-size-limit (in {file}): must be at least 1, got 0"),
        (
            "[worker.invoker]\ninactivity-timeout = -5",
            'worker.invoker.inactivity-timeout (in {file}): expected a duration such as "1m" or "500ms", got -5',
        ),
        (
            "[worker.invoker]\nabort-timeout = 1.5",
            'worker.invoker.abort-timeout (in {file}): expected a duration such as "1m" or "500ms", got 1.5',
        ),
    ],
)
def test_a_bad_file_value_is_named_by_its_key_and_file(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "restate.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as raised:
        load(str(path), env={})
    assert str(raised.value) == message.format(file=path)


def test_a_bad_override_is_named_by_its_setting() -> None:
    with pytest.raises(ConfigError, match=r"^default-num-partitions: must be between 1 and 1024, got -1$"):
        load(env={}, overrides={"default_num_partitions": -1})


def test_durations_in_every_accepted_form() -> None:
    env = {"RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "PT30S", "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "2500"}
    config = load(env=env)
    assert (config.inactivity_timeout_ms, config.abort_timeout_ms) == (30_000, 2500)
    assert load(env={}, overrides={"inactivity_timeout_ms": 0}).inactivity_timeout_ms == 0


def test_invoker_and_ingress_limits_under_the_real_servers_names(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        "[worker.invoker]\nconcurrent-invocations-limit = 64\nhttp2-streams-per-connection-limit = 8\n"
        'connect-timeout = "2s"\ndeployment-concurrency-limit = 16\n'
        "[ingress]\nconcurrent-api-requests-limit = 100\npartition-backlog-limit = 50\n"
    )
    config = load(str(path), env={})
    assert (config.invoker_concurrency, config.http2_streams_per_connection) == (64, 8)
    assert (config.invoker_connect_timeout_ms, config.invoker_deployment_concurrency) == (2000, 16)
    assert (config.ingress_concurrency_limit, config.ingress_partition_backlog_limit) == (100, 50)
    env = {
        "RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": "32",
        "RESTATE_INGRESS__CONCURRENT_API_REQUESTS_LIMIT": "7",
    }
    config = load(str(path), env=env)
    assert (config.invoker_concurrency, config.ingress_concurrency_limit) == (32, 7)
    with pytest.raises(ConfigError, match="RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT: must be at least 1"):
        load(env={"RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT": "0"})


def test_the_web_ui_switch_under_the_real_servers_names(tmp_path: Path) -> None:
    assert load(env={}).admin_disable_web_ui is False
    assert load(env={"RESTATE_ADMIN__DISABLE_WEB_UI": "true"}).admin_disable_web_ui is True
    path = tmp_path / "restate.toml"
    path.write_text("[admin]\ndisable-web-ui = true\n")
    assert load(config_file=str(path), env={}).admin_disable_web_ui is True
    with pytest.raises(ConfigError, match="RESTATE_ADMIN__DISABLE_WEB_UI: expected true or false"):
        load(env={"RESTATE_ADMIN__DISABLE_WEB_UI": "perhaps"})


def test_static_kafka_clusters(tmp_path: Path) -> None:
    path = tmp_path / "kafka.toml"
    path.write_text(
        '[[ingress.kafka-clusters]]\nname = "my-cluster"\nbrokers = ["PLAINTEXT://127.0.0.1:19092", "b2:9092"]\n'
        '"sasl.mechanism" = "PLAIN"\n"enable.idempotence" = true\n"fetch.wait.max.ms" = 50\n'
        '[[ingress.kafka-clusters]]\nname = "other"\nbrokers = ["127.0.0.1:1"]\n'
    )
    clusters = load(str(path), env={}).kafka_clusters
    assert clusters == {
        "my-cluster": {"metadata.broker.list": "PLAINTEXT://127.0.0.1:19092,b2:9092", "sasl.mechanism": "PLAIN",
                       "enable.idempotence": "true", "fetch.wait.max.ms": "50"},
        "other": {"metadata.broker.list": "127.0.0.1:1"},
    }  # fmt: skip
    assert load(None, env={}).kafka_clusters == {}


@pytest.mark.parametrize(
    "text,message",
    [
        ('[ingress]\nkafka-clusters = "x"\n', "expected an array of tables"),
        ('[[ingress.kafka-clusters]]\nbrokers = ["a:1"]\n', "every cluster needs a `name` string"),
        ('[[ingress.kafka-clusters]]\nname = "c"\n', "cluster 'c' needs `brokers`"),
        ('[[ingress.kafka-clusters]]\nname = "c"\nbrokers = []\n', "cluster 'c' needs `brokers`"),
    ],
)
def test_bad_static_kafka_clusters_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"ingress.kafka-clusters \\(in {path}\\): .*{message}"):
        load(str(path), env={})
