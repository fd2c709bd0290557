"""What the storage package keeps to itself: key layouts, the LevelDB handle, and formats of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import restate

PACKAGE = Path(restate.__file__).parent
STORAGE = PACKAGE / "storage"


def _imports(path: Path) -> set[str]:
    """Every module (and `module.name`) a source file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _outside_storage() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if STORAGE not in p.parents and "_generated" not in p.parts]


def test_nothing_outside_the_storage_package_knows_key_layouts() -> None:
    offenders = [str(p.relative_to(PACKAGE)) for p in _outside_storage() if {"restate.storage.keys"} & _imports(p)]
    assert offenders == []


def test_the_storage_package_persists_no_ipc_message_or_command() -> None:
    for path in STORAGE.glob("*.py"):
        imported = _imports(path)
        assert not any(m == "restate.wire" or m.startswith("restate.wire.") for m in imported), path.name
        assert not any(m.startswith("restate.partition") for m in imported), path.name


def test_in_the_storage_package_only_the_registry_conversion_knows_admins_model() -> None:
    # restate.schema also travels over IPC (wire.SchemaUpdate): what is stored is records.SchemaRecord.
    knowing = sorted(p.name for p in STORAGE.glob("*.py") if any(m.startswith("restate.schema") for m in _imports(p)))
    assert knowing == ["meta.py", "meta_convert.py"]
