"""`restate subscriptions create --from-file`: the official CLI's file formats, read without a server."""

from __future__ import annotations

import pytest

from cli.commands.subscriptions import read_definition


def test_properties_files_are_flat_librdkafka_properties_with_source_and_sink() -> None:
    text = "# a comment\nsource = kafka://my-cluster/t1\nsink=service://KObj/add\n\nauto.offset.reset=earliest\n"
    for path in ("sub.properties", "sub.conf", "-"):
        expected = {"source": "kafka://my-cluster/t1", "sink": "service://KObj/add"}
        assert read_definition(path, text) == {**expected, "options": {"auto.offset.reset": "earliest"}}


def test_other_files_are_toml_with_an_options_table() -> None:
    text = 'source = "kafka://c/t"\nsink = "service://S/h"\n[options]\n"session.timeout.ms" = 6000\n'
    assert read_definition("sub.toml", text) == {
        "source": "kafka://c/t", "sink": "service://S/h", "options": {"session.timeout.ms": "6000"}}


@pytest.mark.parametrize(
    "path,text,reason",
    [("sub.properties", "source kafka://c/t\n", "line 1: expected key=value"), ("sub.toml", "source = \n", "line 1"),
     ("sub.toml", 'options = "x"\n', "`options` must be a table")],
)  # fmt: skip
def test_bad_files_say_why(path: str, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_definition(path, text)
