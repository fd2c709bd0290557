"""Start-up of `restate up`: busy ports and unusable data directories stop it with one line; the banner."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import OUR_RESTATE_BIN, ManagedProcess, OurRestateServer, RealRestateServer, free_ports
from tests.support.servers import RestateServer

EXIT_DEADLINE_S = 60.0
UNWRITABLE_DIR = Path("/sys/fs")  # an existing directory nobody may create files in, root included


def _server(kind: str, root: Path, name: str = "a", **kwargs: object) -> RestateServer:
    if kind == "real":
        return RealRestateServer(root / "data", root / "logs", partitions=2, name=f"real-{name}")
    return OurRestateServer(root / "data", root / "logs", partitions=2, name=f"ours-{name}", **kwargs)  # type: ignore[arg-type]


def _output(process: ManagedProcess) -> list[str]:
    """The lines the process wrote, without ManagedProcess's own header."""
    return [line for line in process.log_path.read_text().splitlines() if line and not line.startswith("=== ")]


def _run_to_exit(process: ManagedProcess) -> tuple[int, list[str]]:
    """Starts `process` and waits (bounded) until it exits; its exit code and output lines."""
    process.start()
    assert process.proc is not None
    try:
        code = process.proc.wait(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.name} still runs {EXIT_DEADLINE_S}s after its start:\n{process.log_tail()}")
    finally:
        process.kill()
    return code, _output(process)


def _pid_files(data: Path, count: int) -> dict[str, str]:
    """The supervisor's pid files, once all `count` children have one (the partitions start last)."""
    deadline = time.monotonic() + EXIT_DEADLINE_S
    while len(files := {path.name: path.read_text() for path in (data / "pids").glob("*.pid")}) < count:
        assert time.monotonic() < deadline, f"only {sorted(files)} after {EXIT_DEADLINE_S}s"
        time.sleep(0.02)
    return files


def _restate_up(tmp_path: Path, base_dir: Path) -> ManagedProcess:
    ingress, admin = free_ports(2)
    argv = [
        OUR_RESTATE_BIN, "up", "--base-dir", base_dir, "--partitions", "2", "--node-metrics-bind-address", "",
        "--ingress-bind-address", f"127.0.0.1:{ingress}", "--admin-bind-address", f"127.0.0.1:{admin}",
    ]  # fmt: skip
    return ManagedProcess(f"up-{ingress}", argv, tmp_path / "logs" / f"up-{ingress}.log", cwd=tmp_path)


@pytest.mark.parametrize("which", ["ingress", "admin"])
@pytest.mark.parametrize("kind", ["real", "ours"])
def test_a_busy_port_stops_the_server_with_one_line(kind: str, which: str, tmp_path: Path) -> None:
    server = _server(kind, tmp_path)
    port = server.ingress_port if which == "ingress" else server.admin_port
    with socket.create_server(("127.0.0.1", port)):
        code, lines = _run_to_exit(server.process)
    assert code != 0
    failures = [line for line in lines if f"127.0.0.1:{port}" in line and "in use" in line.lower()]
    assert failures, lines
    assert not [line for line in lines if "Traceback" in line]
    if kind == "ours":  # nothing was started: the line is all there is
        assert lines == [f"error: {which}: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_data_directory_in_use_stops_the_second_server_and_is_left_alone(tmp_path: Path) -> None:
    first = _server("ours", tmp_path, "first").start()
    assert isinstance(first, OurRestateServer)
    try:
        data = first.base_dir
        pids = _pid_files(data, count=4)  # admin, ingress, p0, p1: all started (kafka: no subscription)
        recorded = sorted(path.name for path in (data / "metrics").iterdir())
        code, lines = _run_to_exit(_server("ours", tmp_path, "second").process)
        assert code != 0
        assert lines == [f"error: another server is using {data.resolve()} (pid {first.process.pid})"]
        assert _pid_files(data, count=4) == pids
        assert "kafka.pid" not in pids
        assert set(recorded) <= {path.name for path in (data / "metrics").iterdir()}  # not emptied
        assert first.call("restate/health", method="GET").status_code == 200
    finally:
        first.stop()


def test_a_data_directory_that_is_a_file_gives_one_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("mine\n")
    for base_dir in (not_a_dir, not_a_dir / "data"):
        code, lines = _run_to_exit(_restate_up(tmp_path, base_dir))
        assert (code, lines) == (1, [f"error: cannot create {base_dir}: Not a directory"])
    assert not_a_dir.read_text() == "mine\n"


def test_a_data_directory_that_cannot_be_written_gives_one_line(tmp_path: Path) -> None:
    assert UNWRITABLE_DIR.is_dir()
    code, lines = _run_to_exit(_restate_up(tmp_path, UNWRITABLE_DIR))
    assert (code, lines) == (1, [f"error: cannot write to {UNWRITABLE_DIR}: Permission denied"])
    code, lines = _run_to_exit(_restate_up(tmp_path, UNWRITABLE_DIR / "restate-data"))
    assert code == 1
    assert lines == [f"error: cannot create {UNWRITABLE_DIR / 'restate-data'}: Operation not permitted"]


def test_the_banner_names_the_addresses_and_the_data_directory(tmp_path: Path) -> None:
    (metrics_port,) = free_ports(1)
    server = _server("ours", tmp_path, env={"RESTATE_BIND_ADDRESS": f"127.0.0.1:{metrics_port}"}).start()
    assert isinstance(server, OurRestateServer)
    try:
        lines = _output(server.process)
    finally:
        server.stop()
    banner = [
        f"Admin: http://127.0.0.1:{server.admin_port}/",
        f"HTTP Ingress: http://127.0.0.1:{server.ingress_port}/",
        f"Node metrics: http://127.0.0.1:{metrics_port}/metrics",
        f"Data directory: {server.base_dir.resolve()} (2 partitions)",
    ]
    assert [line for line in lines if line in banner] == banner  # each once, in this order


def test_a_busy_node_metrics_port_only_warns(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        server = _server("ours", tmp_path, env={"RESTATE_BIND_ADDRESS": address}).start()
        try:
            assert server.call("restate/health", method="GET").status_code == 200
            lines = _output(server.process)
        finally:
            server.stop()
    assert [line for line in lines if "WARNING" in line and f"node metrics on {address}" in line]
    assert f"Node metrics: not served ({address}: Address already in use)" in lines
