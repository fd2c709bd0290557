"""The only user of ZeroMQ: every process is a `Node` that binds one ROUTER and sends to peers through DEALERs.

Messages are restate.wire's structs; several posted to one peer in one event-loop pass travel as one batch.
In cluster mode (a `BusDirectory`) the ROUTER also listens on tcp, and peers are named `<node>/<process>`:
those of other nodes are reached over tcp, those of this node over ipc as in single-node mode."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec
import zmq

from restate import stage_trace, wire

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


def partition_index(name: str) -> int | None:
    """The partition a bus name belongs to (`p<i>`, or `<node>/p<i>` in a cluster); None for other processes."""
    name = name.rpartition("/")[2]
    if name.startswith("p") and name[1:].isdigit():
        return int(name[1:])
    return None


RECONNECT_IVL_MS = 10
DRAIN_LIMIT = 256  # transport messages read per readiness callback before the loop's other work runs


class BusDirectory:
    """Cluster mode: this node's name and the tcp endpoint of any node's process (`endpoint(node, process)`)."""

    def __init__(self, node_name: str, endpoint: Callable[[str, str], str]) -> None:
        self.node_name = node_name
        self.endpoint = endpoint

    def split(self, peer: str) -> tuple[str, str]:
        """(node, process) of a peer name; a bare process name is one of this node's."""
        node, sep, process = peer.rpartition("/")
        return (node, process) if sep else (self.node_name, peer)

    def local_name(self, peer: str) -> str:
        """One name per peer: `<this node>/p0` and `p0` are the same process, reached through one DEALER
        (a ROUTER ignores a second connection under an identity it already has)."""
        node, process = self.split(peer)
        return process if node == self.node_name else peer


class Node:
    """A named process on the message bus: receives on its ROUTER, sends through one DEALER per peer.

    Peers are addressed by name; the receiver learns the sender's name from the DEALER identity.
    """

    def __init__(self, base_dir: str | Path, name: str, directory: BusDirectory | None = None) -> None:
        self.base_dir = base_dir
        self.name = name
        self.directory = directory
        # Plain synchronous sockets: the ROUTER's file descriptor is watched by the event loop (`add_reader`)
        # and drained without blocking, which costs far less per message than zmq.asyncio's futures.
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._router: zmq.Socket[bytes] = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.RCVHWM, 0)
        self._router.setsockopt(zmq.LINGER, 0)
        # DEALERs only ever send, without blocking (unbounded queue).
        self._dealers: dict[str, zmq.Socket[bytes]] = {}
        self._outgoing: dict[str, list[bytes]] = {}
        self._flush_scheduled = False
        self._incoming: collections.deque[tuple[str, wire.Message]] = collections.deque()
        self._reader_loop: asyncio.AbstractEventLoop | None = None  # the loop watching the ROUTER's fd
        self._waiter: asyncio.Future[None] | None = None  # the pending recv(), woken when messages arrive
        self._drain_scheduled = False

    def bind(self) -> None:
        os.makedirs(socket_dir(self.base_dir), exist_ok=True)
        path = socket_dir(self.base_dir) / f"{self.name}.sock"
        if path.exists():
            path.unlink()  # left by a killed predecessor
        self._router.bind(address(self.base_dir, self.name))
        if self.directory is not None:
            self._router.bind(self.directory.endpoint(self.directory.node_name, self.name))

    def _dealer(self, peer: str) -> zmq.Socket[bytes]:
        sock = self._dealers.get(peer)
        if sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            identity, target = self.name, address(self.base_dir, peer)
            if self.directory is not None:
                node, process = self.directory.split(peer)
                if node == self.directory.node_name:
                    target = address(self.base_dir, process)
                else:  # another node's process: over tcp, under a name that is unique in the cluster
                    identity = f"{self.directory.node_name}/{self.name}"
                    target = self.directory.endpoint(node, process)
            sock.setsockopt(zmq.IDENTITY, identity.encode())
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.LINGER, 0)
            # A peer that is not up yet (start-up) or restarting is retried every 10 ms rather than 100:
            # a local connect() that fails costs microseconds, waiting costs recovery and start-up time.
            sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
            sock.connect(target)
            self._dealers[peer] = sock
        return sock

    def send(self, peer: str, message: wire.Message) -> None:
        """Queues a message to a peer; never blocks (unbounded queue, delivered once the peer is up)."""
        self._post(peer, wire.encode(message))

    def send_raw(self, peer: str, payload: bytes) -> None:
        self._post(peer, payload)

    def _post(self, peer: str, payload: bytes) -> None:
        """Messages posted to a peer in one event-loop pass leave as one transport message: every ZeroMQ
        send wakes its I/O thread, which costs more than the message itself on a small machine."""
        if self.directory is not None:
            peer = self.directory.local_name(peer)
        pending = self._outgoing.get(peer)
        if pending is None:
            self._outgoing[peer] = [payload]
        else:
            pending.append(payload)
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Sends everything posted so far, one transport message per peer, in posting order."""
        self._flush_scheduled = False
        outgoing, self._outgoing = self._outgoing, {}
        if stage_trace.ENABLED and outgoing:
            stage_trace.mark(f"{self.name}: bus send")
        for peer, payloads in outgoing.items():
            data = payloads[0] if len(payloads) == 1 else wire.encode_batch(payloads)
            self._dealer(peer).send(data, zmq.NOBLOCK)

    async def recv(self) -> tuple[str, wire.Message]:
        """Waits for the next well-formed message; malformed ones are logged and dropped."""
        while not self._incoming:
            loop = asyncio.get_running_loop()
            if self._reader_loop is not loop:  # not watched by this loop yet: what arrived before is read now
                self._watch(loop)
                self._on_readable()
                if self._incoming:
                    break
            assert self._waiter is None, "one receiver per node"
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._incoming.popleft()

    def recv_nowait(self) -> tuple[str, wire.Message] | None:
        """Returns a queued message or None when nothing is waiting. Once the fd is watched, the readiness
        callback has read everything that arrived (ZeroMQ signals again for anything newer)."""
        if not self._incoming and self._reader_loop is None:
            self._drain()
        return self._incoming.popleft() if self._incoming else None

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watches the ROUTER's fd on `loop` (instead of the loop that watched it before, if any)."""
        fd = self._router.fileno()
        previous = self._reader_loop
        if previous is not None and not previous.is_closed():
            previous.remove_reader(fd)
        self._reader_loop = loop
        loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        """ZeroMQ's fd only says that the socket's state may have changed (edge-triggered): read until it
        would block, a bounded number at a time so one burst does not hold the loop (the rest next pass)."""
        self._drain_scheduled = False
        if not self._drain(DRAIN_LIMIT) and not self._drain_scheduled and self._reader_loop is not None:
            self._drain_scheduled = True
            self._reader_loop.call_soon(self._on_readable)
        waiter = self._waiter
        if self._incoming and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain(self, limit: int = DRAIN_LIMIT) -> bool:
        """Decodes up to `limit` transport messages waiting on the ROUTER; True when none is left."""
        router = self._router
        for _ in range(limit):
            try:
                sender, payload = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            self._decode(sender, payload)
        return False

    def _decode(self, sender: bytes, payload: bytes) -> None:
        if stage_trace.ENABLED:
            stage_trace.mark(f"{self.name}: bus receive")
        try:
            name = sender.decode()
            messages = wire.decode(payload)
            if self.directory is not None and "/" not in name:
                name = f"{self.directory.node_name}/{name}"  # in a cluster every name says its node
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            log.warning("dropping malformed message from %r: %s", sender, exc)
            return
        self._incoming.extend((name, m) for m in messages)

    def close(self) -> None:
        self.flush()
        if self._reader_loop is not None and not self._reader_loop.is_closed():
            self._reader_loop.remove_reader(self._router.fileno())
        self._reader_loop = None
        for sock in self._dealers.values():
            sock.close(0)
        self._router.close(0)
        self._ctx.term()
