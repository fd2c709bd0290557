"""One name per concept: a module name used twice means the same thing in both places, ZeroMQ has one user."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("restate", "cli")

# Module names found in more than one package, each the same concept for its own package.
SAME_CONCEPT = {
    "app.py": "the ASGI app of its server (admin, ingress)",
    "codec.py": "its format's records to bytes and back (storage records, command log entries)",
    "discovery.py": "the two sides of deployment discovery (admin asks, the SDK answers as the official SDK's module)",
    "errors.py": "the errors of its own package",
    "invocations.py": "the invocation routes or commands of its API (admin, ingress, CLI)",
    "process.py": "the process entry point of its server (admin, ingress, kafka)",
    "services.py": "the service routes or commands of its API (admin, CLI)",
    "kafka_clusters.py": "the Kafka cluster routes or commands of its API (admin, CLI)",
    "subscriptions.py": "the subscription routes or commands of its API (admin, CLI)",
}


def _modules() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_a_module_name_used_twice_names_the_same_concept() -> None:
    packages_by_name: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        if path.name != "__init__.py":
            packages_by_name[path.name].append(str(path.parent.relative_to(ROOT)))
    repeated = {name: places for name, places in packages_by_name.items() if len(places) > 1}
    assert sorted(repeated) == sorted(SAME_CONCEPT), repeated


def test_only_the_bus_node_imports_zmq() -> None:
    users = [str(path.relative_to(ROOT)) for path in _modules() if "zmq" in _imports(path)]
    assert users == ["restate/ipc/node.py"]


def test_every_target_struct_is_a_copy_of_the_invocation_target() -> None:
    """`Target` is an invocation's service/handler/key in every format (IPC, store format 1, command log)."""
    fields_by_module = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name == "Target":
                fields_by_module[str(path.relative_to(ROOT))] = [
                    item.target.id
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                ]
    assert "restate/wire.py" in fields_by_module
    wire_fields = fields_by_module["restate/wire.py"]
    assert {module: wire_fields for module in fields_by_module} == fields_by_module
