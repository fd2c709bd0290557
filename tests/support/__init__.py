"""Test support: free ports, readiness polling, and managed child processes.

Every child process runs in its own session (process group), logs to a file in the pytest
tmp dir, and is killed by PID/process group by its owner. See `procs.py`.
"""

from tests.support.net import free_port, free_ports, wait_http_ok
from tests.support.paths import (
    OFFICIAL_VENV,
    OUR_RESTATE_BIN,
    REAL_SERVER_BIN,
    REPO_ROOT,
    SERVICES_DIR,
)
from tests.support.procs import ManagedProcess, registered_logs
from tests.support.servers import OurRestateServer, RealRestateServer, RestateServer
from tests.support.services import ServiceProcess

__all__ = [
    "OFFICIAL_VENV",
    "OUR_RESTATE_BIN",
    "REAL_SERVER_BIN",
    "REPO_ROOT",
    "SERVICES_DIR",
    "ManagedProcess",
    "OurRestateServer",
    "RealRestateServer",
    "RestateServer",
    "ServiceProcess",
    "free_port",
    "free_ports",
    "registered_logs",
    "wait_http_ok",
]
