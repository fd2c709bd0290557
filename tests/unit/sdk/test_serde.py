"""Serdes: JSON by default; pydantic models, msgspec Structs and dataclasses picked from type hints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec
import pydantic

import restate
from restate.sdk.discovery import compute_manifest
from restate.sdk.handler import handler_from_callable
from restate.sdk.serde import BytesSerde, DefaultSerde, JsonSerde, MsgspecJsonSerde, PydanticJsonSerde
from tests.unit.sdk.test_asgi import Exchange, _scope
from tests.unit.sdk.vmkit import input_cmd, start


class Person(pydantic.BaseModel):
    name: str
    age: int


class Point(msgspec.Struct):
    x: int
    y: int


@dataclass
class Line:
    start: Point | None
    label: str
    tags: list[str]


@dataclass
class Box:
    name: str
    lines: list[Line]


def test_json_and_bytes() -> None:
    assert JsonSerde[Any]().serialize({"a": [1, 2]}) == b'{"a": [1, 2]}'
    assert JsonSerde[Any]().deserialize(b"") is None
    assert BytesSerde().serialize(None) == b""
    assert DefaultSerde[Any]().serialize(None) == b""
    assert DefaultSerde[Any]().deserialize(b'"x"') == "x"


def test_default_serde_with_type_hints() -> None:
    person = DefaultSerde(Person)
    assert person.deserialize(person.serialize(Person(name="a", age=3))) == Person(name="a", age=3)
    point = DefaultSerde(Point)
    assert point.deserialize(point.serialize(Point(1, 2))) == Point(1, 2)
    box = DefaultSerde(Box)
    value = Box("b", [Line(None, "l", ["t"]), Line(Point(1, 2), "m", [])])
    assert box.deserialize(box.serialize(value)) == value
    assert DefaultSerde(Box).deserialize(b'{"name": "n", "lines": [{"start": null, "label": "x", "tags": []}]}') == Box(
        "n", [Line(None, "x", [])]
    )


svc = restate.Service("Typed")


@svc.handler()
async def older(ctx: restate.Context, person: Person) -> Person:
    return Person(name=person.name, age=person.age + 1)


@svc.handler()
async def moved(ctx: restate.Context, point: Point) -> Point | None:
    return Point(point.x + 1, point.y)


@svc.handler()
async def boxed(ctx: restate.Context, box: Box) -> str:
    return box.lines[0].label


def test_handler_type_hints_choose_serdes_and_schemas() -> None:
    io = handler_from_callable(older).handler_io
    assert isinstance(io.input_serde, PydanticJsonSerde) and isinstance(io.output_serde, PydanticJsonSerde)
    assert isinstance(handler_from_callable(moved).handler_io.input_serde, MsgspecJsonSerde)
    handlers = {h["name"]: h for h in compute_manifest([svc], 4, "BIDI_STREAM")["services"][0]["handlers"]}
    assert handlers["older"]["input"]["jsonSchema"]["properties"]["age"] == {"title": "Age", "type": "integer"}
    assert "null" in handlers["moved"]["output"]["jsonSchema"]["type"]  # Optional[...] output
    assert handlers["boxed"]["output"]["jsonSchema"] == {"type": "string"}


def test_typed_handlers_end_to_end() -> None:
    app = restate.app([svc])

    async def invoke(handler: str, body: bytes) -> bytes:
        ex = Exchange()
        ex.push(start() + input_cmd(body), more=False)
        await app(_scope(f"/invoke/Typed/{handler}", content_type=b"application/vnd.restate.invocation.v6"),
                  ex.receive, ex.send)  # fmt: skip
        return bytes(ex.frames()[0][1].value.content)

    async def main() -> None:
        assert await invoke("older", b'{"name": "a", "age": 3}') == b'{"name":"a","age":4}'
        assert await invoke("moved", b'{"x": 1, "y": 2}') == b'{"x":2,"y":2}'
        body = b'{"name": "b", "lines": [{"start": {"x": 1, "y": 1}, "label": "L", "tags": []}]}'
        assert await invoke("boxed", body) == b'"L"'

    asyncio.run(main())
