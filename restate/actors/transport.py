"""The only user of ZeroMQ: every process binds one ROUTER and sends to peers through DEALERs."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import msgspec
import zmq
import zmq.asyncio

from restate import wire

log = logging.getLogger(__name__)

_MAX_IPC_PATH = 100


def socket_dir(base_dir: str | Path) -> Path:
    """Where the ipc sockets of a data directory live (a short path: ipc paths are limited to ~107 bytes)."""
    preferred = Path(base_dir).resolve() / "run"
    if len(str(preferred)) + 16 < _MAX_IPC_PATH:
        return preferred
    digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"restate-{digest}"


def address(base_dir: str | Path, name: str) -> str:
    return f"ipc://{socket_dir(base_dir)}/{name}.sock"


def partition_name(index: int) -> str:
    return f"p{index}"


class Node:
    """A named process on the message bus: receives on its ROUTER, sends through one DEALER per peer.

    Peers are addressed by name; the receiver learns the sender's name from the DEALER identity.
    """

    def __init__(self, base_dir: str | Path, name: str) -> None:
        self.base_dir = base_dir
        self.name = name
        self._ctx = zmq.asyncio.Context()
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.RCVHWM, 0)
        self._router.setsockopt(zmq.LINGER, 0)
        # Non-blocking reads go through a synchronous view of the same socket: on the asyncio socket a
        # NOBLOCK recv returns a Future, not frames.
        self._router_sync: zmq.Socket[bytes] = zmq.Socket.shadow(self._router.underlying)
        # DEALERs only ever send, without blocking (unbounded queue): plain synchronous sockets suffice.
        self._sync_ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.shadow(self._ctx.underlying)
        self._dealers: dict[str, zmq.Socket[bytes]] = {}

    def bind(self) -> None:
        os.makedirs(socket_dir(self.base_dir), exist_ok=True)
        path = socket_dir(self.base_dir) / f"{self.name}.sock"
        if path.exists():
            path.unlink()  # left by a killed predecessor
        self._router.bind(address(self.base_dir, self.name))

    def _dealer(self, peer: str) -> zmq.Socket[bytes]:
        sock = self._dealers.get(peer)
        if sock is None:
            sock = self._sync_ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, self.name.encode())
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(address(self.base_dir, peer))
            self._dealers[peer] = sock
        return sock

    def send(self, peer: str, message: wire.Message) -> None:
        """Queues a message to a peer; never blocks (unbounded queue, delivered once the peer is up)."""
        self._dealer(peer).send(wire.encode(message), zmq.NOBLOCK)

    def send_raw(self, peer: str, payload: bytes) -> None:
        self._dealer(peer).send(payload, zmq.NOBLOCK)

    async def recv(self) -> tuple[str, wire.Message]:
        """Waits for the next well-formed message; malformed ones are logged and dropped."""
        while True:
            sender, payload = await self._router.recv_multipart(copy=True)
            decoded = self._decode(sender, payload)
            if decoded is not None:
                return decoded

    def recv_nowait(self) -> tuple[str, wire.Message] | None:
        """Returns a queued message or None when nothing is waiting."""
        while True:
            try:
                sender, payload = self._router_sync.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return None
            decoded = self._decode(sender, payload)
            if decoded is not None:
                return decoded

    @staticmethod
    def _decode(sender: bytes, payload: bytes) -> tuple[str, wire.Message] | None:
        try:
            return sender.decode(), wire.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            log.warning("dropping malformed message from %r: %s", sender, exc)
            return None

    def close(self) -> None:
        for sock in self._dealers.values():
            sock.close(0)
        self._router.close(0)
        self._ctx.term()
