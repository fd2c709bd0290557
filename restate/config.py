"""Server configuration: a TOML file, overridden by RESTATE_* environment variables, overridden by flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from restate.durations import DurationError, parse_duration_ns


class ConfigError(ValueError):
    """The configuration is invalid; the message names the setting."""


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one server node; crosses the process boundary to every child."""

    base_dir: str = "restate-data"
    ingress_bind_address: str = "127.0.0.1:8080"
    admin_bind_address: str = "127.0.0.1:9070"
    # Where the supervisor serves `/metrics` for the whole node (like the real node port); "" = off.
    node_metrics_bind_address: str = "127.0.0.1:5122"
    # One process per partition: as many as cores keeps every core busy without context-switch churn.
    default_num_partitions: int = msgspec.field(default_factory=lambda: max(2, os.cpu_count() or 2))
    # The invoker's defaults, overridable per service from discovery.
    inactivity_timeout_ms: int = 60_000
    abort_timeout_ms: int = 600_000
    retry_initial_interval_ms: int = 500
    retry_max_interval_ms: int = 60_000
    retry_exponentiation_factor: float = 2.0
    retry_max_attempts: int = 70
    request_size_limit: int = 32 * 1024 * 1024
    invoker_concurrency: int = 1000
    # Like the real server: invocations negotiate at most V6 unless this experimental switch is on.
    experimental_protocol_v7: bool = False

    def host_port(self, which: str) -> tuple[str, int]:
        value = self.ingress_bind_address if which == "ingress" else self.admin_bind_address
        return parse_bind_address(value, f"{which}.bind-address")


def parse_bind_address(value: str, setting: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{setting}: expected HOST:PORT, got {value!r}")
    return host, int(port)


# TOML path -> field, and RESTATE_* env var -> field (the real server's names where they exist).
_TOML_KEYS = {
    ("base-dir",): "base_dir",
    ("default-num-partitions",): "default_num_partitions",
    ("ingress", "bind-address"): "ingress_bind_address",
    ("admin", "bind-address"): "admin_bind_address",
    ("bind-address",): "node_metrics_bind_address",
    ("ingress", "request-size-limit"): "request_size_limit",
    ("worker", "invoker", "inactivity-timeout"): "inactivity_timeout_ms",
    ("worker", "invoker", "abort-timeout"): "abort_timeout_ms",
    ("experimental-enable-protocol-v7",): "experimental_protocol_v7",
}
# Settings given as durations ("1m", "PT30S", or a bare number of milliseconds), stored in ms.
_DURATION_FIELDS = ("inactivity_timeout_ms", "abort_timeout_ms")
_ENV_KEYS = {
    "RESTATE_BASE_DIR": "base_dir",
    "RESTATE_DEFAULT_NUM_PARTITIONS": "default_num_partitions",
    "RESTATE_INGRESS__BIND_ADDRESS": "ingress_bind_address",
    "RESTATE_ADMIN__BIND_ADDRESS": "admin_bind_address",
    "RESTATE_BIND_ADDRESS": "node_metrics_bind_address",
    "RESTATE_INGRESS__REQUEST_SIZE_LIMIT": "request_size_limit",
    "RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "experimental_protocol_v7",
    "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT": "inactivity_timeout_ms",
    "RESTATE_WORKER__INVOKER__ABORT_TIMEOUT": "abort_timeout_ms",
}


def _duration_ms(field: str, value: object) -> object:
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_duration_ns(value) // 1_000_000
        except DurationError as exc:
            raise ConfigError(f"{field}: {exc}") from exc
    return value


def _from_toml(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    found: dict[str, object] = {}
    for keys, field in _TOML_KEYS.items():
        node: object = data
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None:
            found[field] = node
    return found


def load(
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Builds the config from file < environment < explicit overrides (None values are ignored)."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    config_file = config_file or env.get("RESTATE_CONFIG")
    if config_file:
        values.update(_from_toml(Path(config_file)))
    for var, field in _ENV_KEYS.items():
        if var in env:
            values[field] = env[var]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for field in _DURATION_FIELDS:
        if field in values:
            values[field] = _duration_ms(field, values[field])
    try:
        config = msgspec.convert(values, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    config.host_port("ingress")
    config.host_port("admin")
    if config.node_metrics_bind_address:
        parse_bind_address(config.node_metrics_bind_address, "bind-address")
    if not 1 <= config.default_num_partitions <= 1024:
        raise ConfigError("default-num-partitions must be between 1 and 1024")
    return config
