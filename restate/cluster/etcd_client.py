"""The one user of the etcd client library (aetcd): a connection to all members, short deadlines, retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions
from aetcd import rpc

log = logging.getLogger(__name__)

T = TypeVar("T")

REQUEST_TIMEOUT_S = 1.0  # one etcd request; a request stuck on a dead member or Raft leader is retried
RETRY_FOR_S = 15.0  # how long an operation is retried before etcd counts as unavailable (a lost majority)
_RETRY_PAUSE_S = 0.05

# Failures that say nothing about the request's effect (it may or may not have happened): retried.
_TRANSIENT = (
    aetcd.exceptions.ConnectionFailedError,
    aetcd.exceptions.ConnectionTimeoutError,
    aetcd.exceptions.InternalError,
)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    # aetcd's own calls turn gRPC errors into its exceptions; a raw stub call (`range`) does not
    return isinstance(exc, rpc.AioRpcError) and exc.code() in (
        rpc.StatusCode.UNAVAILABLE,
        rpc.StatusCode.DEADLINE_EXCEEDED,
    )


class EtcdUnavailable(ConnectionError):
    """etcd did not answer in time (e.g. a majority of its members is down)."""


def grpc_target(endpoints: Sequence[str]) -> tuple[str, int]:
    """aetcd connects to `f"{host}:{port}"`: the host part carries gRPC's multi-address target
    (`ipv4:a:1,b:2,c:3`), so one channel spans every member and round-robin skips dead ones."""
    if not endpoints:
        raise ValueError("no etcd endpoints")
    parsed = []
    for endpoint in endpoints:
        host, sep, port = endpoint.removeprefix("http://").rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"etcd endpoint: expected HOST:PORT, got {endpoint!r}")
        parsed.append((host, int(port)))
    *first, (last_host, last_port) = parsed
    head = "".join(f"{host}:{port}," for host, port in first)
    return f"ipv4:{head}{last_host}", last_port


class Etcd:
    """A connected client and the retry policy every operation of the cluster package goes through."""

    def __init__(self, client: aetcd.Client, retry_for_s: float = RETRY_FOR_S) -> None:
        self.client = client
        self.retry_for_s = retry_for_s
        self.txn = client.transactions  # compare and op builders

    @classmethod
    async def connect(
        cls, endpoints: Sequence[str], request_timeout_s: float = REQUEST_TIMEOUT_S, retry_for_s: float = RETRY_FOR_S
    ) -> Etcd:
        host, port = grpc_target(endpoints)
        options = {"grpc.lb_policy_name": "round_robin", "grpc.max_receive_message_length": 16 * 1024 * 1024}
        client = aetcd.Client(host=host, port=port, timeout=request_timeout_s, options=options)  # type: ignore[arg-type]
        await client.connect()
        return cls(client, retry_for_s)

    async def close(self) -> None:
        await self.client.close()

    async def retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Runs `operation` until it answers, retrying failures that leave its effect unknown; callers
        only retry what is idempotent (every write of the cluster package is, see docs/cluster.md)."""
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                return await operation()
            except Exception as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise EtcdUnavailable(f"etcd: {what} failed for {self.retry_for_s:.0f}s: {exc}") from exc
                log.debug("etcd: %s failed (%s), retrying", what, exc)
                await asyncio.sleep(_RETRY_PAUSE_S)

    async def range(self, start: bytes, end: bytes, limit: int = 0, descending: bool = False) -> Any:
        """A RangeResponse of [start, end) in key order (`kvs`, `more`, `header.revision`); aetcd's own
        range calls take no limit, so this one uses its generated stub."""
        order = rpc.RangeRequest.DESCEND if descending else rpc.RangeRequest.ASCEND
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit, sort_order=order)
        client = self.client
        await client.connect()
        return await self.retrying(
            "range", lambda: client.kvstub.Range(request, timeout=client._timeout, metadata=client.metadata)
        )

    async def transaction(self, compare: list[Any], success: list[Any], failure: list[Any]) -> tuple[bool, list[Any]]:
        return await self.retrying("transaction", lambda: self.client.transaction(compare, success, failure))

    async def get(self, key: bytes) -> Any:
        return await self.retrying("get", lambda: self.client.get(key))

    async def put(self, key: bytes, value: bytes, lease: int | None = None) -> None:
        await self.retrying("put", lambda: self.client.put(key, value, lease=lease))

    async def delete_range(self, start: bytes, end: bytes) -> None:
        await self.retrying("delete", lambda: self.client.delete_range(start, end))

    async def grant_lease(self, ttl_s: int) -> int:
        lease = await self.retrying("lease grant", lambda: self.client.lease(ttl_s))
        return int(lease.id)

    async def refresh_lease(self, lease_id: int) -> int:
        """The lease's remaining TTL after the refresh; 0 when it has expired (or never existed)."""
        reply = await self.retrying("lease refresh", lambda: self.client.refresh_lease(lease_id))
        return 0 if reply is None else int(reply.TTL)

    async def revoke_lease(self, lease_id: int) -> None:
        await self.retrying("lease revoke", lambda: self.client.revoke_lease(lease_id))

    async def watch(self, start: bytes, end: bytes, start_revision: int) -> Any:
        """An aetcd Watch (async iterator of events; `cancel()`) of the keys in [start, end)."""
        return await self.retrying(
            "watch", lambda: self.client.watch(start, range_end=end, start_revision=start_revision)
        )
