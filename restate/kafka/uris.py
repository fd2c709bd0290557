"""URIs as the real server reads them (the `http` crate's rules): `kafka://cluster/topic`, `service://svc/handler`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


class UriError(ValueError):
    """Not a URI: `invalid uri character` or `invalid format`, as the real server's deserializer says."""


@dataclass(frozen=True, slots=True)
class Uri:
    scheme: str | None
    authority: str | None
    path: str  # with its leading slash, "" when absent
    query: str | None = None

    def __str__(self) -> str:
        if self.scheme is None:
            return f"{self.authority or ''}{self.path}"
        query = f"?{self.query}" if self.query is not None else ""
        return f"{self.scheme}://{self.authority}{self.path or '/'}{query}"

    @property
    def rest(self) -> str:
        """The path without its leading slash: a topic, or a handler name."""
        return self.path[1:] if self.path.startswith("/") else self.path


def parse_uri(text: str) -> Uri:
    if not text:
        raise UriError("invalid format")
    if _URI_CHARS.fullmatch(text) is None:
        raise UriError("invalid uri character")
    scheme, sep, rest = text.partition("://")
    if not sep:
        if text.startswith("/"):
            return Uri(None, None, text.split("?")[0].split("#")[0])
        if any(c in text for c in "/?#"):
            raise UriError("invalid format")  # a scheme without `//`, or a path without a scheme
        return Uri(None, text, "")
    if _SCHEME.fullmatch(scheme) is None:
        raise UriError("invalid format")
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if found >= 0:
            end = min(end, found)
    authority, remainder = rest[:end], rest[end:]
    if not authority:
        raise UriError("invalid format")
    remainder = remainder.split("#")[0]
    path, qsep, query = remainder.partition("?")
    return Uri(scheme, authority, path, query if qsep else None)
