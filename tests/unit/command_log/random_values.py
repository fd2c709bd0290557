"""Seeded random values of any msgspec-described type (structs, unions, literals, containers): every
field of every command gets exercised by the round-trip test without listing the fields by hand."""

from __future__ import annotations

import random
from typing import Any

import msgspec.inspect as mi

_EDGE_INTS = [0, 1, -1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1]


def random_value(t: mi.Type, rng: random.Random, depth: int = 0) -> Any:
    match t:
        case mi.IntType():
            return rng.choice(_EDGE_INTS) if rng.random() < 0.3 else rng.randrange(-(2**40), 2**40)
        case mi.StrType():
            return "".join(rng.choice("aZ09-_/ é€😀\x00") for _ in range(rng.randrange(0, 12)))
        case mi.BytesType():
            return rng.randbytes(rng.randrange(0, 40))
        case mi.BoolType():
            return rng.random() < 0.5
        case mi.NoneType():
            return None
        case mi.LiteralType():
            return rng.choice(t.values)
        case mi.UnionType():
            choices = [c for c in t.types if depth < 4 or not isinstance(c, mi.StructType)] or list(t.types)
            return random_value(rng.choice(choices), rng, depth + 1)
        case mi.ListType():
            return [random_value(t.item_type, rng, depth + 1) for _ in range(rng.randrange(0, 4))]
        case mi.TupleType():
            return tuple(random_value(item, rng, depth + 1) for item in t.item_types)
        case mi.StructType():
            return _random_struct(t, rng, depth)
    raise TypeError(f"no generator for {t!r}")


def _random_struct(t: mi.StructType, rng: random.Random, depth: int) -> Any:
    values = {}
    for field in t.fields:
        if field.required or rng.random() < 0.7:  # optional fields are also left at their default
            values[field.name] = random_value(field.type, rng, depth + 1)
    return t.cls(**values)


def random_instance(cls: Any, rng: random.Random) -> Any:
    return random_value(mi.type_info(cls), rng)
