"""`tracing-endpoint` as the real server reads it, and its configuration keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from restate.config import ConfigError, load
from restate.tracing.endpoint import Endpoint, EndpointError, parse_endpoint


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:4317", Endpoint("grpc", "http://127.0.0.1:4317")),
        ("https://collector:4317", Endpoint("grpc", "https://collector:4317")),
        ("grpc://127.0.0.1:4317", Endpoint("grpc", "http://127.0.0.1:4317")),
        ("otlp+grpc://127.0.0.1:4317", Endpoint("grpc", "http://127.0.0.1:4317")),
        ("otlp+http://127.0.0.1:4318/v1/traces", Endpoint("http/protobuf", "http://127.0.0.1:4318/v1/traces")),
        ("http+otlp://h:1/v1/traces", Endpoint("http/protobuf", "http://h:1/v1/traces")),
        ("otlp+https://h/x", Endpoint("http/protobuf", "https://h/x")),
        ("otlp+proto+http://h:1/v1/traces", Endpoint("http/protobuf", "http://h:1/v1/traces")),
    ],
)
def test_the_scheme_picks_the_exporter(uri: str, expected: Endpoint) -> None:
    assert parse_endpoint(uri) == expected


@pytest.mark.parametrize("uri", ["ftp://h", "nonsense", "otlp://h", "otlp+json+http://h/v1/traces", "http://"])
def test_other_schemes_are_refused(uri: str) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(uri)


def test_configuration_from_file_environment_and_flag(tmp_path: Path) -> None:
    toml = tmp_path / "restate.toml"
    toml.write_text('tracing-endpoint = "http://a:4317"\ntracing-service-name = "mine"\n[tracing-headers]\nk = "v"\n')
    config = load(str(toml), env={})
    assert (config.tracing_endpoint, config.tracing_service_name) == ("http://a:4317", "mine")
    assert config.tracing_headers == {"k": "v"}
    env = {"RESTATE_TRACING_ENDPOINT": "otlp+http://b:4318/v1/traces", "RESTATE_TRACING_HEADERS": "x=1, y=2"}
    config = load(str(toml), env=env)
    assert config.tracing_endpoint == "otlp+http://b:4318/v1/traces"
    assert config.tracing_headers == {"x": "1", "y": "2"}
    assert load(str(toml), env=env, overrides={"tracing_endpoint": "http://c:1"}).tracing_endpoint == "http://c:1"
    assert load(env={}).tracing_endpoint == ""  # off by default


def test_a_bad_endpoint_or_header_list_is_a_config_error_naming_its_origin() -> None:
    with pytest.raises(ConfigError, match="RESTATE_TRACING_ENDPOINT: invalid scheme"):
        load(env={"RESTATE_TRACING_ENDPOINT": "ftp://x"})
    with pytest.raises(ConfigError, match="tracing-endpoint: invalid scheme"):
        load(env={}, overrides={"tracing_endpoint": "nope://x"})
    with pytest.raises(ConfigError, match="RESTATE_TRACING_HEADERS: expected name=value"):
        load(env={"RESTATE_TRACING_HEADERS": "novalue"})


def test_restate_up_refuses_a_bad_tracing_endpoint_flag_before_starting(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["up", "--base-dir", str(tmp_path / "data"), "--tracing-endpoint", "ftp://x"])
    assert result.exit_code == 2
    assert "error: tracing-endpoint: invalid scheme 'ftp'" in result.output
    assert not (tmp_path / "data").exists()  # nothing was started
