"""`import restate` / `restate.sdk` stay server-free and cheap; the official SDK's module paths resolve to ours."""

from __future__ import annotations

import subprocess
import sys

import restate
import restate.sdk

FORBIDDEN = ("plyvel", "zmq", "restate.actors", "restate.ipc", "restate.storage", "restate.invoker", "restate.ingress",
             "restate.partition", "restate.admin", "restate.config", "restate.wire")  # fmt: skip

PROBE = """
import sys
import restate
import restate.sdk
from restate import Service, VirtualObject, Workflow, app, gather
from restate.exceptions import TerminalError
from restate.serde import Serde
from restate.context import ObjectContext
import restate.asyncio
bad = [m for m in sys.modules if m in FORBIDDEN or m.startswith(tuple(p + "." for p in FORBIDDEN))]
print(",".join(bad))
"""


def test_sdk_imports_no_server_module_in_a_fresh_interpreter() -> None:
    code = f"FORBIDDEN = {FORBIDDEN!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"server modules imported by the SDK: {out.stdout}"


def test_plain_import_restate_does_not_load_the_sdk() -> None:
    code = "import sys, restate, restate.ids, restate.protocol; print('restate.sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_lazy_names_match_the_sdk_exports() -> None:
    assert restate.SDK_NAMES == frozenset(restate.sdk.__all__)
    for name in restate.sdk.__all__:
        assert getattr(restate, name) is getattr(restate.sdk, name)


def test_official_module_paths_are_aliases() -> None:
    import restate.exceptions  # noqa: PLC0415
    import restate.serde  # noqa: PLC0415

    assert restate.exceptions is sys.modules["restate.sdk.exceptions"]
    assert restate.serde.__spec__ is not None and restate.serde.__spec__.name == "restate.sdk.serde"
    import restate.protocol  # noqa: PLC0415 - real submodules are untouched

    assert restate.protocol.__name__ == "restate.protocol"
