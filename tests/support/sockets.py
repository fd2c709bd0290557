"""Which local addresses listen on a TCP port, read from /proc/net/tcp and /proc/net/tcp6 (Linux)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

_LISTEN = "0A"  # the TCP state column of /proc/net/tcp*


def _address(hex_ip: str) -> str:
    """The text form of a /proc/net address (32-bit words in host byte order)."""
    raw = bytes.fromhex(hex_ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_addresses(port: int) -> set[str]:
    """Every local address with a socket listening on `port` (e.g. {'127.0.0.1'}, {'0.0.0.0'}, {'::'})."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            hex_ip, _, hex_port = fields[1].partition(":")
            if fields[3] == _LISTEN and int(hex_port, 16) == port:
                found.add(_address(hex_ip))
    return found
