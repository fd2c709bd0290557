"""Where the golden fixtures of the command log live and how they are read and written.

`python -m tests.unit.command_log.fixtures` writes the fixtures of the current format version into
tests/fixtures/commands/v<N>/ once: it refuses when that directory exists, because the bytes of a
released version never change (a new format is a new version, see docs/log-format.md)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import msgspec

from restate.partition.command_log import FORMAT_VERSION, encode_entry
from restate.partition.command_log.codec import EntryFormat
from tests.unit.command_log.samples import samples
from tests.unit.command_log.scenario import record

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "commands"
FORMAT_FILE = "format.json"
SCENARIO_FILE = "scenario.msgpack"  # a msgpack array of encoded entries, in the order they were applied
SUFFIX = ".bin"


def version_dir(version: int) -> Path:
    return ROOT / f"v{version}"


def versions() -> list[int]:
    """Every format version that has fixtures, oldest first."""
    return sorted(int(d.name[1:]) for d in ROOT.glob("v*") if d.is_dir() and d.name[1:].isdigit())


def format_description() -> bytes:
    """The JSON schema of the current format (field names, types, tags, defaults) as stable text;
    without the structs' docstrings, which may change freely."""
    schema = _without_prose(msgspec.json.schema(EntryFormat))
    return msgspec.json.format(msgspec.json.encode(schema, order="sorted"), indent=2) + b"\n"


def _without_prose(node: object) -> object:
    if isinstance(node, dict):
        prose = ("title", "description")
        return {k: _without_prose(v) for k, v in node.items() if not (k in prose and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_prose(v) for v in node]
    return node


def read_samples(version: int) -> dict[str, bytes]:
    return {f.stem: f.read_bytes() for f in sorted(version_dir(version).glob(f"*{SUFFIX}"))}


def read_scenario(version: int) -> list[bytes]:
    return msgspec.msgpack.decode((version_dir(version) / SCENARIO_FILE).read_bytes(), type=list[bytes])


def write_current() -> Path:
    target = version_dir(FORMAT_VERSION)
    if target.exists():
        raise SystemExit(f"{target} exists: the fixtures of a released version never change")
    target.mkdir(parents=True)
    (target / FORMAT_FILE).write_bytes(format_description())
    for name, entry in samples().items():
        (target / f"{name}{SUFFIX}").write_bytes(encode_entry(entry))
    with tempfile.TemporaryDirectory() as scratch:
        entries = record(Path(scratch))
    (target / SCENARIO_FILE).write_bytes(msgspec.msgpack.encode([encode_entry(e) for e in entries]))
    return target


if __name__ == "__main__":
    print(f"wrote {write_current()}", file=sys.stderr)
