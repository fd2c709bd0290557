"""The README's quick start, run as written: the example app, our CLI and curl, against each server.

The commands come from the README's "Quick start" fenced `sh` blocks, so the README cannot drift from
what works. `make up` is stood in for by a server on free ports (ours: `restate up`; real: the
reference binary); the README's default ports (ingress 8080, admin 9070, app 9080) are rewritten to
those free ports, and the CLI's default admin URL too (RESTATE_ADMIN_URL). Each command must exit 0
and print what its `# →` comment says (`…` matches any text). The example runs under our SDK
(`our_sdk`, as written) and under the official one (`official_sdk`, `.venv-official/bin/python`).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    REPO_ROOT,
    ManagedProcess,
    OurRestateServer,
    RealRestateServer,
    RestateServer,
    free_port,
    wait_http_ok,
)
from tests.support.sockets import listening_addresses

README = REPO_ROOT / "README.md"
APP_SCRIPT = "examples/app.py"
OUR_PYTHON = ".venv/bin/python"
OFFICIAL_PYTHON = ".venv-official/bin/python"
STEP_TIMEOUT_S = 60.0
EXPECTED_MARK = "→"


@dataclass(frozen=True)
class Step:
    command: str
    expected: str | None  # what the command prints, from its `# →` comment


def _quickstart_section() -> str:
    text = README.read_text()
    start = text.index("\n## Quick start\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _parse_block(block: str) -> list[Step]:
    """Commands of one `sh` block; a comment-only `# → ...` line gives the previous command's output."""
    steps: list[Step] = []
    for raw in block.splitlines():
        command, _, comment = raw.strip().partition("# ")
        command, comment = command.strip(), comment.strip()
        expected = comment.removeprefix(EXPECTED_MARK).strip() if comment.startswith(EXPECTED_MARK) else None
        if command:
            steps.append(Step(command, expected))
        elif expected is not None:
            assert steps and steps[-1].expected is None, f"README: {raw.strip()!r} follows no command"
            steps[-1] = Step(steps[-1].command, expected)
    return steps


def quickstart_blocks() -> list[list[Step]]:
    """The README's quick-start `sh` blocks, in order."""
    return [_parse_block(b) for b in re.findall(r"```sh\n(.*?)```", _quickstart_section(), re.DOTALL)]


def test_readme_sets_up_with_exactly_make_up_and_make_test() -> None:
    blocks = quickstart_blocks()
    assert [s.command for s in blocks[0]] == ["make up", "make test"]
    later = [s for block in blocks[1:] for s in block]
    assert sum(APP_SCRIPT in s.command for s in later) == 1, "the quick start runs the example app once"
    assert any(s.command.startswith("source .venv/bin/activate") for s in later), "it says how restate gets on PATH"
    checked = " ".join(s.command for s in later if s.expected is not None)
    for target in ("/Greeter/", "/Counter/", "/Signup/", "/restate/workflow/Signup/"):
        assert target in checked, f"the quick start checks no answer of {target}"


# --- running it -------------------------------------------------------------------------------


@dataclass
class Ports:
    ingress: int
    admin: int
    app: int

    def localize(self, command: str) -> str:
        """The README's default ports (after ':' or a space) replaced by this run's ports."""
        mapping = {"8080": self.ingress, "9070": self.admin, "9080": self.app}
        return re.sub(r"(?<=[: ])(8080|9070|9080)\b", lambda m: str(mapping[m.group(1)]), command)


def _shell_env(admin_url: str) -> dict[str, str]:
    """A user's shell: no venv active or on PATH, nothing RESTATE_* but the CLI's admin URL."""
    venv_bin = (REPO_ROOT / ".venv" / "bin").resolve()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RESTATE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p).resolve() != venv_bin)
    env["RESTATE_ADMIN_URL"] = admin_url  # the CLI's default, http://localhost:9070, moved to this run's port
    return env


def _run(script: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run `script` in bash from the repository root; its whole process group dies on a timeout."""
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n(killed after {STEP_TIMEOUT_S}s)"
    return proc.returncode, out, err


def _matches(expected: str, output: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, output.strip(), re.DOTALL) is not None


def _app_process(command: str, sdk: str, env: dict[str, str], log_dir: Path) -> ManagedProcess:
    assert command.startswith(f"{OUR_PYTHON} {APP_SCRIPT}"), f"the app runs under our venv's python: {command!r}"
    if sdk == "official_sdk":
        command = command.replace(OUR_PYTHON, OFFICIAL_PYTHON, 1)
    return ManagedProcess(
        f"example-{sdk}", shlex.split(command), log_dir / f"example-{sdk}.log", env=env, cwd=REPO_ROOT
    )


@pytest.fixture(params=["real", "ours"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RestateServer]:
    server_cls = RealRestateServer if request.param == "real" else OurRestateServer
    started = server_cls(tmp_path / "data", tmp_path / "logs", partitions=2).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.parametrize("sdk", ["our_sdk", "official_sdk"])
def test_quickstart_as_written(server: RestateServer, sdk: str, tmp_path: Path) -> None:
    ports = Ports(server.ingress_port, server.admin_port, free_port())
    env = _shell_env(server.admin_url.replace("127.0.0.1", "localhost"))
    steps = [s for block in quickstart_blocks()[1:] for s in block]
    prelude = ""
    app: ManagedProcess | None = None
    try:
        for step in steps:
            command = ports.localize(step.command)
            if APP_SCRIPT in command:
                app = _app_process(command, sdk, env, tmp_path / "logs")
                app.start()
                wait_http_ok(f"http://127.0.0.1:{ports.app}/health", 30.0, alive=app.alive)
                assert listening_addresses(ports.app) == {"127.0.0.1"}, "the example listens on loopback only"
            elif command.startswith("source "):
                prelude += command + "\n"
            else:
                rc, out, err = _run(prelude + command, env)
                assert rc == 0, f"{command!r} exited {rc}\nstdout: {out}\nstderr: {err}"
                if step.expected is not None:
                    assert _matches(step.expected, out), f"{command!r} printed {out!r}, README says {step.expected!r}"
        assert app is not None
        assert app.stop(grace_s=15.0, signals=(signal.SIGINT,)) == 0, "Ctrl+C stops the example cleanly"
    finally:
        if app is not None:
            app.kill()


# --- the example's own flags ---------------------------------------------------------------------


def _python(sdk: str) -> str:
    return OUR_PYTHON if sdk == "our_sdk" else OFFICIAL_PYTHON


@pytest.mark.parametrize("sdk", ["our_sdk", "official_sdk"])
def test_example_host_flag_widens_the_interface(sdk: str, tmp_path: Path) -> None:
    port = free_port()
    command = f"{OUR_PYTHON} {APP_SCRIPT} --host 0.0.0.0 --port {port}"
    app = _app_process(command, sdk, _shell_env("http://localhost:9070"), tmp_path)
    app.start()
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", 30.0, alive=app.alive)
        assert listening_addresses(port) == {"0.0.0.0"}
    finally:
        app.kill()


@pytest.mark.parametrize("sdk", ["our_sdk", "official_sdk"])
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--port abc", "'abc' is not a port number"),
        ("--port 65536", "'65536' is not a port number"),
        ("--host ''", "the host is empty"),
    ],
)
def test_example_refuses_bad_flags(sdk: str, flags: str, message: str) -> None:
    rc, out, err = _run(f"{_python(sdk)} {APP_SCRIPT} {flags}", _shell_env("http://localhost:9070"))
    assert rc == 2 and message in err and "Traceback" not in err, (rc, out, err)


@pytest.mark.parametrize("sdk", ["our_sdk", "official_sdk"])
def test_example_reports_a_taken_port(sdk: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, out, err = _run(f"{_python(sdk)} {APP_SCRIPT} --port {port}", _shell_env("http://localhost:9070"))
    assert rc == 1 and f"cannot serve on 127.0.0.1:{port}" in err and "Traceback" not in err, (rc, out, err)
