"""The version digest of an object's state that the official CLI sends with `state clear` (HTTP-API.md 2.5)."""

from __future__ import annotations

import base64
import hashlib
import struct


def state_version(items: list[tuple[bytes, bytes]]) -> str:
    """SHA-256 over the pairs sorted by key, each as u64be(i) 0x01 key 0x02 value 0x03; base64url, unpadded."""
    digest = hashlib.sha256()
    for i, (key, value) in enumerate(sorted(items)):
        digest.update(struct.pack(">Q", i) + b"\x01" + key + b"\x02" + value + b"\x03")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
