"""The metadata store keeps admin's registry (restate.schema, also an IPC type) as records of its own:
converted field by field, every field of the model has a stored counterpart, nothing is lost on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from restate import schema as s
from restate.storage import codec, keys, meta_convert
from restate.storage import records as r
from restate.storage.db import Database
from restate.storage.meta import MetaStore
from tests.unit.storage import samples

# Each struct of admin's registry model and the record that stores it.
COUNTERPARTS: list[tuple[type[msgspec.Struct], type[msgspec.Struct]]] = [
    (s.Schema, r.SchemaRecord),
    (s.Deployment, r.DeploymentRecord),
    (s.ServiceSchema, r.ServiceRecord),
    (s.HandlerSchema, r.HandlerRecord),
    (s.InputRules, r.InputRulesRecord),
    (s.OutputRules, r.OutputRulesRecord),
    (s.RetryPolicy, r.RetryPolicyRecord),
]


@pytest.mark.parametrize("model,record", COUNTERPARTS, ids=[m.__name__ for m, _ in COUNTERPARTS])
def test_every_field_of_the_registry_model_has_a_stored_counterpart(
    model: type[msgspec.Struct], record: type[msgspec.Struct]
) -> None:
    # A field added to restate.schema fails here until the record (and its version) carries it too.
    assert set(model.__struct_fields__) == set(record.__struct_fields__)


def _set_fields(value: Any, found: dict[type, set[str]]) -> None:
    """For each struct type under `value`, the fields set away from their default somewhere."""
    if isinstance(value, dict):
        for item in value.values():
            _set_fields(item, found)
    elif isinstance(value, list):
        for item in value:
            _set_fields(item, found)
    elif isinstance(value, msgspec.Struct):
        found.setdefault(type(value), set()).update(msgspec.to_builtins(value))  # defaults are left out
        for name in value.__struct_fields__:
            _set_fields(getattr(value, name), found)


def test_the_full_sample_sets_every_field_of_the_model_somewhere() -> None:
    # So that the conversions below are checked on every field.
    found: dict[type, set[str]] = {}
    _set_fields(samples.full_schema(), found)
    unset = {m.__name__: set(m.__struct_fields__) - found.get(m, set()) for m, _ in COUNTERPARTS}
    assert {name: fields for name, fields in unset.items() if fields} == {}


@pytest.mark.parametrize("variant", ["registry", "full"])
def test_the_registry_converts_field_by_field_both_ways(variant: str) -> None:
    model = samples.schema() if variant == "registry" else samples.full_schema()
    record = samples.samples()[f"schema.{variant}"][1]
    assert meta_convert.schema_record(model) == record
    # defaults left out as in the golden fixture (msgspec omits a struct default only when it is that object)
    assert codec.encode(meta_convert.schema_record(model)) == codec.encode(record)
    assert meta_convert.schema(record) == model


def test_the_conversion_keeps_the_order_of_handlers_and_deployments() -> None:
    model = meta_convert.schema(samples.full_schema_record())
    assert list(model.services["Signup"].handlers) == ["run", "status"]  # the manifest's order
    assert list(model.deployments) == ["dp_12PgsFJ82wRXepxIaMzIdLr", "dp_14bz75FHIkQ6dxzKQnyIALL"]


def test_the_metadata_store_writes_the_registry_as_its_own_record(tmp_path: Path) -> None:
    meta = MetaStore(tmp_path / "meta")
    try:
        meta.store_schema(samples.full_schema())
        meta.set_num_partitions(4)
        assert meta.load_schema() == samples.full_schema()
        assert meta.num_partitions() == 4
    finally:
        meta.close()
    db = Database(tmp_path / "meta")
    try:
        stored = db.get(keys.meta_key("schema"))
        fmt = db.get(keys.meta_key(keys.FORMAT))
    finally:
        db.close()
    assert stored == codec.encode(samples.full_schema_record())  # the golden bytes of schema.v3.full
    assert fmt is not None and codec.decode_store_format(fmt).format == codec.META_FORMAT
    assert msgspec.msgpack.decode(stored)["v"] == codec.version_of("schema") == 3


def test_an_empty_metadata_store_has_an_empty_registry(tmp_path: Path) -> None:
    meta = MetaStore(tmp_path / "meta")
    try:
        assert meta.load_schema() == s.Schema()
        assert meta.num_partitions() is None
    finally:
        meta.close()
