"""The public API matches the official restate-sdk 1.3.0: same names, same parameters (inspected in its venv)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import OFFICIAL_VENV

#: Official names this SDK does not provide (documented gaps in docs/sdk.md).
KNOWN_GAPS = {
    "JournalValueCodec",  # experimental journal encryption
    "JournalValueCodecProvider",
    "connect",  # Restate Cloud tunnel
    "with_connection",
    "ConnectError",
    "logging",  # the module; getLogger / RestateLoggingFilter are provided
}
#: Official Context methods that are not provided.
CONTEXT_GAPS: set[str] = set()

PROBE = r"""
import inspect, json, restate
from restate.exceptions import RetryableError
out = {"__all__": sorted(restate.__all__)}
def params(fn):
    return [p for p in inspect.signature(fn).parameters if p != "self"]
targets = {
    "Service": restate.Service.__init__, "Service.handler": restate.Service.handler,
    "VirtualObject": restate.VirtualObject.__init__, "VirtualObject.handler": restate.VirtualObject.handler,
    "Workflow": restate.Workflow.__init__, "Workflow.main": restate.Workflow.main,
    "Workflow.handler": restate.Workflow.handler, "app": restate.app,
    "TerminalError": restate.TerminalError.__init__, "RetryableError": RetryableError.__init__,
    "RunOptions": restate.RunOptions, "InvocationRetryPolicy": restate.InvocationRetryPolicy,
    "select": restate.select, "gather": restate.gather, "wait_completed": restate.wait_completed,
}
for name, fn in targets.items():
    out[name] = params(fn)
for cls in ("ScopedContext", "Context", "ObjectContext", "ObjectSharedContext", "WorkflowContext",
            "WorkflowSharedContext", "DurablePromise", "RestateDurableCallFuture", "SendHandle"):
    klass = getattr(restate, cls)
    public = [m for m in dir(klass) if not m.startswith("_") and callable(getattr(klass, m))]
    out[cls] = {m: params(getattr(klass, m)) for m in public}
print(json.dumps(out))
"""


def _surface(python: str) -> dict[str, object]:
    # cwd=/ so that the official venv cannot see this repository's `restate` package
    done = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd="/", check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def surfaces() -> tuple[dict[str, object], dict[str, object]]:
    official_python = OFFICIAL_VENV / "bin" / "python"
    if not official_python.exists():
        pytest.fail(f"{official_python} is missing: run `make setup`")
    return _surface(sys.executable), _surface(str(official_python))


def test_public_names(surfaces: tuple[dict[str, object], dict[str, object]]) -> None:
    ours, official = surfaces
    missing = set(official["__all__"]) - set(ours["__all__"]) - KNOWN_GAPS  # type: ignore[arg-type]
    assert not missing, f"official names we lack: {sorted(missing)}"


@pytest.mark.parametrize(
    "name",
    ["Service", "Service.handler", "VirtualObject", "VirtualObject.handler", "Workflow", "Workflow.main",
     "Workflow.handler", "app", "TerminalError", "RetryableError", "RunOptions", "InvocationRetryPolicy", "select",
     "gather", "wait_completed"],
)  # fmt: skip
def test_parameters(surfaces: tuple[dict[str, object], dict[str, object]], name: str) -> None:
    ours, official = surfaces
    assert ours[name] == official[name]


@pytest.mark.parametrize(
    "cls",
    ["ScopedContext", "Context", "ObjectContext", "ObjectSharedContext", "WorkflowContext", "WorkflowSharedContext",
     "DurablePromise", "RestateDurableCallFuture", "SendHandle"],
)  # fmt: skip
def test_context_methods(surfaces: tuple[dict[str, object], dict[str, object]], cls: str) -> None:
    ours, official = surfaces
    theirs: dict[str, list[str]] = official[cls]  # type: ignore[assignment]
    mine: dict[str, list[str]] = ours[cls]  # type: ignore[assignment]
    for method, parameters in theirs.items():
        if method in CONTEXT_GAPS:
            continue
        assert method in mine, f"{cls}.{method} is missing"
        assert mine[method] == parameters, f"{cls}.{method}: {mine[method]} != {parameters}"
