"""A 3-member etcd cluster for the cluster tests: Debian's `etcd` on free loopback ports, killed by PID."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.net import POLL_INTERVAL_S, free_ports
from tests.support.procs import ManagedProcess

ETCD_BINARY = "etcd"  # Debian's etcd-server (3.4), installed by `make setup`
READY_TIMEOUT_S = 30.0


def etcd_binary() -> str:
    """The etcd server's path; a missing binary is an error of the set-up (`make setup` installs it), never a skip."""
    path = shutil.which(ETCD_BINARY)
    if path is None:
        raise RuntimeError("etcd is not installed: `make setup` installs it (apt-get install etcd-server)")
    return path


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: ManagedProcess

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def healthy(self) -> bool:
        """The member answers /health with a leader in sight (it can commit)."""
        try:
            answer = httpx.get(f"http://{self.endpoint}/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("health") == "true"


class EtcdCluster:
    """`size` etcd members on loopback; start() waits until every member is healthy."""

    def __init__(self, root: Path, size: int = 3) -> None:
        ports = free_ports(2 * size)
        binary = etcd_binary()
        self.members: list[EtcdMember] = []
        for i in range(size):
            name = f"etcd{i}"
            client, peer = ports[2 * i], ports[2 * i + 1]
            data_dir = root / name
            self.members.append(
                EtcdMember(name, client, peer, data_dir, ManagedProcess(name, [], root / f"{name}.log"))
            )
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for m in self.members:
            m.process.argv = [
                binary,
                "--name", m.name,
                "--data-dir", str(m.data_dir),
                "--listen-client-urls", f"http://127.0.0.1:{m.client_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{m.client_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{m.peer_port}",
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", f"restate-test-{ports[0]}",
                # Loopback: a short heartbeat and election keep failover tests fast; fsync stays on.
                "--heartbeat-interval", "50",
                "--election-timeout", "500",
                "--max-request-bytes", str(2 * 1024 * 1024),
                "--logger", "zap",
                "--log-level", "warn",
            ]  # fmt: skip

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self) -> None:
        for m in self.members:
            m.process.start()
        for m in self.members:
            self.wait_healthy(m)

    def wait_healthy(self, member: EtcdMember, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not member.healthy():
            if not member.process.alive():
                raise RuntimeError(f"{member.name} exited:\n{member.process.log_tail(30)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{member.name} not healthy after {timeout_s}s:\n{member.process.log_tail(30)}")
            time.sleep(POLL_INTERVAL_S)

    def kill(self, member: EtcdMember) -> None:
        member.process.kill()

    def restart(self, member: EtcdMember) -> None:
        """Starts a killed member again on its data directory (it rejoins the cluster)."""
        member.process.argv = [a if a != "new" else "existing" for a in member.process.argv]
        member.process.start()
        self.wait_healthy(member)

    def stop(self) -> None:
        for m in self.members:
            m.process.stop(grace_s=5.0)
