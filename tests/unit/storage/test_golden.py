"""Golden fixtures of every stored record (tests/fixtures/storage): the bytes each format version wrote.

* The current version of each record encodes its canonical sample to exactly its fixture: a change to a
  record's encoding fails here until its version is bumped (and a fixture for the new version written).
* Every fixture of every version still decodes: the current ones as they are, older ones through the
  upgrade path (format 1: restate.storage.legacy_v1), into the canonical sample.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from restate.storage import codec, legacy_v1, upgrade
from restate.storage import records as r
from tests.fixtures.storage.write_current import HERE, fixture_path
from tests.unit.storage.samples import samples

SAMPLES = samples()
FIXTURE_NAME = re.compile(r"^(?P<kind>[a-z_]+)\.v(?P<version>\d+)\.(?P<variant>[a-z_-]+)\.(bin|msgpack)$")
FIXTURES = sorted(p for p in HERE.iterdir() if FIXTURE_NAME.match(p.name))


def _parts(path: Path) -> tuple[str, int, str]:
    match = FIXTURE_NAME.match(path.name)
    assert match is not None
    return match["kind"], int(match["version"]), match["variant"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_current_version_encodes_to_its_fixture(name: str) -> None:
    kind, record = SAMPLES[name]
    path = fixture_path(name, kind, codec.version_of(kind))
    assert path.exists(), f"no fixture for {name} at version {codec.version_of(kind)}: run write_current.py"
    assert codec.encode(record) == path.read_bytes(), (
        f"the encoding of {kind} changed without a version bump (docs/storage.md: how to change a format)"
    )


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_every_fixture_of_every_version_decodes_to_its_sample(path: Path) -> None:
    kind, version, variant = _parts(path)
    raw = path.read_bytes()
    if version == codec.version_of(kind):
        decoded = codec.decoder(codec.RECORDS[kind]).decode(raw)
    else:
        decoded = upgrade.READERS[version][kind](raw)
    assert decoded == SAMPLES[f"{kind}.{variant}"][1]


def test_every_record_kind_has_samples_and_format_1_fixtures_where_format_1_had_it() -> None:
    kinds = {kind for kind, _ in SAMPLES.values()}
    assert kinds == set(codec.RECORDS)
    legacy = {_parts(p)[0] for p in FIXTURES if p.suffix == ".bin"}
    assert legacy == set(legacy_v1.READERS)
    variants = {name.split(".", 1)[1] for name in SAMPLES if name.startswith("status.")}
    assert variants == {"scheduled", "inboxed", "invoked", "backing-off", "suspended", "paused", "completed", "traced"}


def test_records_are_maps_with_their_version_first() -> None:
    for name, (kind, record) in SAMPLES.items():
        decoded = msgspec.msgpack.decode(codec.encode(record))
        assert isinstance(decoded, dict), name  # field names, never positions
        if kind != "store_format":
            assert next(iter(decoded)) == "v" and decoded["v"] == codec.version_of(kind), name


def test_a_record_of_another_version_is_refused() -> None:
    raw = codec.encode(r.DedupRecord(seq=1)).replace(b"\xa1v\x02", b"\xa1v\x03")
    with pytest.raises(msgspec.ValidationError):
        codec.decode_dedup(raw)


DOC = Path(__file__).resolve().parents[3] / "docs" / "storage.md"


def doc_row(record: type[msgspec.Struct]) -> str:
    """The row of docs/storage.md that documents a record's tags."""
    fields = zip(record.__struct_fields__, record.__struct_encode_fields__, strict=True)
    pairs = ", ".join(f"`{tag}` {field}" for field, tag in fields) or "(none)"
    config = record.__struct_config__
    tag = f"`{config.tag_field}`=`{config.tag}`" if config.tag is not None else ""
    return f"| `{record.__name__}` | {tag} | {pairs} |"


def test_the_storage_doc_names_every_tag() -> None:
    structs = [v for v in vars(r).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)]
    documented = [s for s in structs if s.__module__ == r.__name__ and not s.__name__.startswith("_")]
    rows = set(DOC.read_text().splitlines())
    assert [doc_row(s) for s in documented if doc_row(s) not in rows] == []
