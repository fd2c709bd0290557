"""Types shared by the invoker's HTTP/1.1 and HTTP/2 clients (errors, response heads, URL parsing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


class TransportError(Exception):
    """A request failed below HTTP semantics: connect refused, reset, protocol error, connection lost, closed."""


class TransportTimeoutError(TransportError):
    """A request did not complete within its timeout."""


@dataclass(slots=True)
class ResponseHead:
    """Status and headers of a response; header names are lower case."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class DeploymentAddress:
    """Where a deployment lives: host, port, `:authority` and the path prefix (no trailing slash)."""

    host: str
    port: int
    authority: str
    prefix: str

    def path(self, path: str) -> str:
        """`path` (e.g. "/invoke/S/h") below the deployment's path prefix."""
        if not path.startswith("/"):
            path = "/" + path
        return self.prefix + path


_ADDRESSES: dict[str, DeploymentAddress] = {}


def parse_base_url(base_url: str) -> DeploymentAddress:
    """Parse an `http://host:port/prefix/` deployment URL (cached; only cleartext http is supported)."""
    address = _ADDRESSES.get(base_url)
    if address is not None:
        return address
    parts = urlsplit(base_url)
    if parts.scheme != "http":
        raise TransportError(f"unsupported URL scheme in {base_url!r}: only http:// (h2c / HTTP/1.1) is supported")
    if not parts.hostname:
        raise TransportError(f"no host in deployment URL {base_url!r}")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise TransportError(f"bad port in deployment URL {base_url!r}") from exc
    host = parts.hostname
    authority = parts.netloc.rpartition("@")[2]
    address = DeploymentAddress(host=host, port=port, authority=authority, prefix=parts.path.rstrip("/"))
    if len(_ADDRESSES) < 10_000:
        _ADDRESSES[base_url] = address
    return address
