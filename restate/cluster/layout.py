"""Where everything of a cluster lives in etcd: the key layout, in one place (no I/O)."""

from __future__ import annotations

LSN_DIGITS = 16  # LSNs and chunk numbers as fixed-width hex: key order is numeric order


def _hex(value: int) -> str:
    return f"{value:0{LSN_DIGITS}x}"


def prefix_end(prefix: bytes) -> bytes:
    """The end of the key range of every key that starts with `prefix` (etcd's range_end)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"  # every key
    return stripped[:-1] + bytes([stripped[-1] + 1])


class Layout:
    """The keys of one cluster, all under `/restate/<cluster-name>/` (several clusters may share an etcd)."""

    def __init__(self, cluster_name: str) -> None:
        if not cluster_name or "/" in cluster_name:
            raise ValueError(f"cluster name must be non-empty and without '/': {cluster_name!r}")
        self.root = f"/restate/{cluster_name}/"

    def _key(self, path: str) -> bytes:
        return (self.root + path).encode()

    # --- membership and leadership

    def node(self, name: str) -> bytes:
        return self._key(f"nodes/{name}")

    def nodes_prefix(self) -> bytes:
        return self._key("nodes/")

    def epoch(self, partition: int) -> bytes:
        return self._key(f"epoch/{partition}")

    def leader(self, partition: int) -> bytes:
        return self._key(f"leader/{partition}")

    def handover(self, partition: int) -> bytes:
        return self._key(f"handover/{partition}")

    def placement(self, partition: int) -> bytes:
        return self._key(f"placement/{partition}")

    def placement_prefix(self) -> bytes:
        return self._key("placement/")

    def leaders_prefix(self) -> bytes:
        return self._key("leader/")

    # --- the log of a partition

    def log_prefix(self, partition: int) -> bytes:
        return self._key(f"log/{partition}/")

    def log_key(self, partition: int, lsn: int) -> bytes:
        return self._key(f"log/{partition}/{_hex(lsn)}")

    def lsn_of(self, partition: int, key: bytes) -> int:
        """The LSN of a key of `log_prefix(partition)`; ValueError for any other key."""
        prefix = self.log_prefix(partition)
        if not key.startswith(prefix) or len(key) != len(prefix) + LSN_DIGITS:
            raise ValueError(f"not a log key of partition {partition}: {key!r}")
        return int(key[len(prefix) :], 16)

    def chunk_prefix(self, partition: int, lsn: int) -> bytes:
        return self._key(f"chunk/{partition}/{_hex(lsn)}/")

    def chunk_key(self, partition: int, lsn: int, index: int) -> bytes:
        return self.chunk_prefix(partition, lsn) + _hex(index).encode()

    def chunks_below(self, partition: int, lsn: int) -> tuple[bytes, bytes]:
        """The key range of the chunks of every entry below `lsn`."""
        return self._key(f"chunk/{partition}/"), self._key(f"chunk/{partition}/{_hex(lsn)}")

    def applied(self, partition: int, node: str) -> bytes:
        return self._key(f"applied/{partition}/{node}")

    def applied_prefix(self, partition: int) -> bytes:
        return self._key(f"applied/{partition}/")

    def trim(self, partition: int) -> bytes:
        return self._key(f"trim/{partition}")

    # --- metadata

    def meta(self, name: str) -> bytes:
        return self._key(f"meta/{name}")
