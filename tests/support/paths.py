"""Well-known paths of the repository, its two venvs and the reference server binary."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
SERVICES_DIR: Path = REPO_ROOT / "tests" / "services"
OFFICIAL_VENV: Path = REPO_ROOT / ".venv-official"
HYPERCORN_BIN: Path = OFFICIAL_VENV / "bin" / "hypercorn"
OUR_RESTATE_BIN: Path = REPO_ROOT / ".venv" / "bin" / "restate"
REAL_SERVER_BIN: Path = (
    REPO_ROOT
    / ".reference"
    / "node_modules"
    / "@restatedev"
    / "restate-server-linux-x64"
    / "bin"
    / "restate-server"
)
