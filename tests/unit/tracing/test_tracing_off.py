"""Tracing off (no endpoint, the default) costs nothing: no exporter, and OpenTelemetry is never loaded."""

from __future__ import annotations

import subprocess
import sys

from restate.config import Config
from restate.tracing import exporter


def test_no_endpoint_no_exporter() -> None:
    assert exporter.setup(Config(), "p0") is None


def test_the_server_processes_do_not_load_opentelemetry_when_tracing_is_off() -> None:
    code = (
        "import sys\n"
        "import restate.actors.partition, restate.ingress.process, restate.invoker.invoker, restate.admin.process\n"
        "from restate.config import Config\n"
        "from restate.tracing import exporter\n"
        "assert exporter.setup(Config(), 'ingress') is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_with_an_endpoint_the_process_gets_its_exporter() -> None:
    code = (
        "from restate.config import Config\n"
        "from restate.tracing import exporter\n"
        "e = exporter.setup(Config(tracing_endpoint='otlp+http://127.0.0.1:9/v1/traces'), 'p0')\n"
        "print(type(e).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SpanExporter"
