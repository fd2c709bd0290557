"""`GET /openapi`: the real server's admin OpenAPI document, cut down to the operations this server serves.

`admin_openapi.json` is restate-server 1.7.12's own document (byte for byte what its `GET /openapi`
answers). The operations of routes this server does not have (Kafka, limits, vqueues) are left out, and
with them the components and tags nothing refers to any more.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

DOCUMENT = Path(__file__).with_name("admin_openapi.json")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Routes = Iterable[tuple[list[str], Mapping[str, object]]]


def _matches(pattern: list[str], segments: list[str]) -> bool:
    """Whether a route pattern (`{param}` segments) and a document path name the same path."""
    return len(pattern) == len(segments) and all(
        p == s or (p.startswith("{") and s.startswith("{")) for p, s in zip(pattern, segments, strict=True)
    )


def _refs(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _used_components(paths: dict[str, Any], components: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """The (kind, name) of every component the paths refer to, directly or through other components."""
    used: set[tuple[str, str]] = set()
    pending = list(_refs(paths))
    while pending:
        kind, _, name = pending.pop().removeprefix("#/components/").partition("/")
        if (kind, name) in used or name not in components.get(kind, {}):
            continue
        used.add((kind, name))
        pending.extend(_refs(components[kind][name]))
    return used


def filtered(document: dict[str, Any], routes: Routes) -> dict[str, Any]:
    """`document` with only the operations `routes` serve (method names upper case, as in the route table)."""
    served = [(pattern, {m.lower() for m in methods}) for pattern, methods in routes]
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        segments = path.strip("/").split("/")
        methods = set().union(*(m for pattern, m in served if _matches(pattern, segments)))
        kept = {key: value for key, value in item.items() if key not in _METHODS or key in methods}
        if any(key in _METHODS for key in kept):
            paths[path] = kept
    used = _used_components(paths, document["components"])
    components = {
        kind: {name: value for name, value in entries.items() if (kind, name) in used}
        for kind, entries in document["components"].items()
    }
    operations = [op for item in paths.values() for op in item.values() if isinstance(op, dict)]
    tags = {tag for op in operations for tag in op.get("tags", [])}
    out = {**document, "paths": paths, "components": components}
    out["tags"] = [tag for tag in document["tags"] if tag["name"] in tags]
    return out


@functools.cache
def admin_openapi_json(routes: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]) -> bytes:
    """The filtered document, encoded once per route table (key order kept, as the real server prints it)."""
    document = json.loads(DOCUMENT.read_bytes())
    return msgspec.json.encode(filtered(document, [(list(p), dict.fromkeys(m)) for p, m in routes]))
