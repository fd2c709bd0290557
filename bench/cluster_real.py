"""The real restate-server 1.7.12 as a 3-node cluster on this machine (replicated loglet and metadata
server, partitions replicated on 2 nodes), for bench.cluster's comparison with ours."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.net import free_ports
from tests.support.paths import REAL_SERVER_BIN
from tests.support.procs import ManagedProcess
from tests.support.servers import RestateServer, _clean_env

NAMES = ("r1", "r2", "r3")


class RealClusterNode(RestateServer):
    """One node of the real server's cluster: its own base dir and ports; the first one provisions it."""

    startup_deadline_s = 120.0

    def __init__(self, name: str, root: Path, fabric: list[int], index: int, partitions: int, factor: int) -> None:
        self.name = name
        self.ingress_port, self.admin_port = free_ports(2)
        base_dir = root / name
        base_dir.mkdir(parents=True, exist_ok=True)
        addresses = ", ".join(f'"http://127.0.0.1:{port}/"' for port in fabric)
        config = base_dir / "restate.toml"
        config.write_text(
            "\n".join(
                [
                    f'node-name = "{name}"',
                    'cluster-name = "bench-real"',
                    f"auto-provision = {'true' if index == 0 else 'false'}",
                    f"default-num-partitions = {partitions}",
                    f"default-replication = {factor}",
                    f'bind-address = "127.0.0.1:{fabric[index]}"',
                    f'advertised-address = "http://127.0.0.1:{fabric[index]}/"',
                    "[metadata-client]",
                    f"addresses = [{addresses}]",
                    "[bifrost]",
                    'default-provider = "replicated"',
                    "[bifrost.replicated-loglet]",
                    f"default-log-replication = {factor}",
                    "[admin]",
                    f'bind-address = "127.0.0.1:{self.admin_port}"',
                    "disable-web-ui = true",
                    "[ingress]",
                    f'bind-address = "127.0.0.1:{self.ingress_port}"',
                    "",
                ]
            )
        )
        env = {
            **_clean_env(),
            "RESTATE_DISABLE_TELEMETRY": "true",
            "RESTATE_LOG_DISABLE_ANSI_CODES": "true",
            "RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE": "256MiB",
            "DO_NOT_TRACK": "1",
        }
        argv: list[str | os.PathLike[str]] = [
            REAL_SERVER_BIN, "--no-logo", "--base-dir", base_dir, "--config-file", config, "--listen-mode", "tcp",
        ]  # fmt: skip
        self.process = ManagedProcess(f"real-{name}", argv, root / "logs" / f"real-{name}.log", env=env, cwd=base_dir)


def real_cluster(root: Path, partitions: int, factor: int = 2) -> list[RealClusterNode]:
    """Three (not started) nodes of the real server's cluster; start them all, then wait for each."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    fabric = free_ports(len(NAMES))
    return [RealClusterNode(name, root, fabric, i, partitions, factor) for i, name in enumerate(NAMES)]
