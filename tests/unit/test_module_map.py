"""docs/modules.md lists every module of restate/ and cli/ exactly once, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_MAP = ROOT / "docs" / "modules.md"
PACKAGES = ("restate", "cli")
# A map line: "- `restate/ipc/node.py`: what it owns." (a package's line names its directory: `restate/ipc/`).
ENTRY = re.compile(r"^- `((?:restate|cli)/[^`]*)`: (.+)$")


def modules_on_disk() -> set[str]:
    """Every module as the map names it: its path, or for an `__init__.py` its package directory."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT)
            found.add(f"{relative.parent}/" if path.name == "__init__.py" else str(relative))
    return found


def listed_modules(text: str) -> list[str]:
    """The module of every map line, in order (duplicates kept); a line without a description is refused."""
    listed = []
    for line in text.splitlines():
        if line.startswith("- `restate") or line.startswith("- `cli"):
            match = ENTRY.match(line)
            assert match is not None and match.group(2).strip(), f"not a module line: {line!r}"
            listed.append(match.group(1))
    return listed


def test_every_module_is_listed_and_every_listed_module_exists() -> None:
    listed = listed_modules(MODULE_MAP.read_text())
    on_disk = modules_on_disk()
    assert sorted(on_disk - set(listed)) == [], "modules missing from docs/modules.md"
    assert sorted(set(listed) - on_disk) == [], "docs/modules.md lists modules that are gone"
    assert len(listed) == len(set(listed)), "a module is listed twice"


def test_the_check_notices_a_missing_and_a_stale_line() -> None:
    text = MODULE_MAP.read_text()
    line = "- `restate/ids.py`: "
    assert line in text
    without = "\n".join(entry for entry in text.splitlines() if not entry.startswith(line))
    assert "restate/ids.py" in modules_on_disk() - set(listed_modules(without))
    stale = text + "\n- `restate/gone.py`: a module that no longer exists.\n"
    assert "restate/gone.py" in set(listed_modules(stale)) - modules_on_disk()
