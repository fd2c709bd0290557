"""The checked-in bytes of every command (tests/fixtures/commands/v<N>/) pin the log format: the
current version must write exactly them, and every version with fixtures must still be read."""

from __future__ import annotations

import msgspec
import pytest

from restate.partition import commands
from restate.partition.command_log import FORMAT_VERSION, LogFormatError, decode_entry, encode_entry
from tests.unit.command_log import fixtures
from tests.unit.command_log.samples import samples

BUMP = (
    "the v{v} log format changed: released bytes never change. Bump FORMAT_VERSION, keep reading v{v} "
    "and write the new fixtures (docs/log-format.md, 'Changing the format')"
)
SAMPLES = samples()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_command_encodes_to_its_checked_in_bytes(name: str) -> None:
    golden = fixtures.read_samples(FORMAT_VERSION)
    assert name in golden, f"no fixture for sample {name!r}: " + BUMP.format(v=FORMAT_VERSION)
    assert encode_entry(SAMPLES[name]) == golden[name], BUMP.format(v=FORMAT_VERSION)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_checked_in_command_decodes_to_its_sample(name: str) -> None:
    assert decode_entry(fixtures.read_samples(FORMAT_VERSION)[name]) == SAMPLES[name]


def test_the_format_description_is_the_checked_in_one() -> None:
    """Catches changes the samples do not reach: a new optional field, a changed default or tag."""
    pinned = (fixtures.version_dir(FORMAT_VERSION) / fixtures.FORMAT_FILE).read_bytes()
    assert fixtures.format_description() == pinned, BUMP.format(v=FORMAT_VERSION)


def test_every_fixture_is_a_sample() -> None:
    """A fixture without a sample would be checked by nobody."""
    assert sorted(fixtures.read_samples(FORMAT_VERSION)) == sorted(SAMPLES)


def _leaf_types(message: object) -> set[type]:
    """The struct types of a command and of the messages it carries."""
    found = {type(message)}
    if isinstance(message, msgspec.Struct):
        for field in message.__struct_fields__:
            value = getattr(message, field)
            if isinstance(value, msgspec.Struct):
                found |= _leaf_types(value)
    return found


def test_the_samples_cover_every_command_and_every_message_it_carries() -> None:
    used: set[type] = set()
    for entry in SAMPLES.values():
        for command in entry.commands:
            used |= _leaf_types(command)
    command_types = set(commands.Command.__args__)  # type: ignore[attr-defined]
    carried = {*commands.ClientRequest.__args__, *commands.OutboxMessage.__args__}  # type: ignore[attr-defined]
    assert command_types | carried <= used, f"no sample for {command_types | carried - used}"


@pytest.mark.parametrize("version", fixtures.versions())
def test_fixtures_of_every_version_are_read_and_rewritten_in_the_current_one(version: int) -> None:
    """The migration path: old bytes decode into today's entries, which the current format carries."""
    assert version <= FORMAT_VERSION, f"fixtures of v{version}, newer than this release's v{FORMAT_VERSION}"
    for name, data in fixtures.read_samples(version).items():
        entry = decode_entry(data)
        assert decode_entry(encode_entry(entry)) == entry, name
    for data in fixtures.read_scenario(version):
        decode_entry(data)


def test_the_current_version_has_fixtures() -> None:
    assert FORMAT_VERSION in fixtures.versions(), "run `python -m tests.unit.command_log.fixtures`"


def test_the_version_is_written_first_and_read_back() -> None:
    data = encode_entry(SAMPLES["end"])
    assert data.startswith(b"\x87\xa1v" + bytes([FORMAT_VERSION]))  # a map of 7 fields, "v" first
    assert msgspec.msgpack.decode(data)["v"] == FORMAT_VERSION


def _raw(entry: commands.LogEntry, **changes: object) -> bytes:
    """The entry's map (current format) with some fields replaced (as another release could have written it)."""
    fields = msgspec.to_builtins(msgspec.msgpack.decode(encode_entry(entry)))
    fields.update(changes)
    return msgspec.msgpack.encode(fields)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_raw(SAMPLES["end"], v=FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1} is unknown"),
        (_raw(SAMPLES["end"], v=0), "format version 0 is unknown"),
        (_raw(SAMPLES["end"], extra=1), f"malformed log entry (format version {FORMAT_VERSION})"),
        (_raw(SAMPLES["end"], commands=[{"type": "teleport"}]), "malformed log entry"),
        (msgspec.msgpack.encode({"partition": 1}), "not a log entry"),
        (msgspec.msgpack.encode([1, 2, 3]), "not a log entry"),
        (b"", "not a log entry"),
        (b"\xc1", "not a log entry"),
    ],
    ids=["newer", "zero", "unknown-field", "unknown-command", "no-version", "array", "empty", "garbage"],
)
def test_what_is_not_a_known_entry_is_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(LogFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_entry(data)

