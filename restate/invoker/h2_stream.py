"""One HTTP/2 request/response exchange of the invoker's pool: bodies flow both ways, retried if unanswered."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import h2.connection

from .http_common import DeploymentAddress, ResponseHead, TransportError

if TYPE_CHECKING:
    from .h2_connection import Http2Connection
    from .http2 import Http2Pool

MAX_RETAINED = 16 * 1024 * 1024  # request bytes kept (by reference) for a transparent retry
MAX_REPLAYS = 2
Headers = list[tuple[bytes, bytes]]


class Http2Stream:
    """One request/response exchange; request and response bodies flow independently (bidirectional)."""

    def __init__(self, pool: Http2Pool, address: DeploymentAddress, headers: Headers, end: bool) -> None:
        self._pool, self._address, self._headers = pool, address, headers
        self._loop = asyncio.get_running_loop()
        self._conn: Http2Connection | None = None
        self._id = self._replays = self._retained_size = 0
        self._pending: deque[bytes | memoryview] = deque()
        self._retained: list[bytes] | None = []  # everything written, until response data arrives
        self._end_requested, self._end_sent = end, False
        self._head: ResponseHead | None = None
        self._chunks: deque[bytes] = deque()
        self._remote_ended = self._done = False
        self._error: TransportError | None = None
        self._head_waiter: asyncio.Future[None] | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._sink: Callable[[bytes], None] | None = None

    @property
    def closed(self) -> bool:
        """True once both directions are finished, or the stream failed or was reset."""
        return self._done

    def write(self, data: bytes) -> None:
        """Queue request body bytes, sent as flow control allows. Never blocks; dropped if the stream failed
        (read() and response_head() report the failure). Raises RuntimeError after end()."""
        if self._end_requested:
            raise RuntimeError("Http2Stream.write() after end()")
        if self._done or not data:
            return
        self._pending.append(data)
        if self._retained is not None:
            self._retained_size += len(data)
            if self._retained_size > MAX_RETAINED:
                self._retained = None
            else:
                self._retained.append(data)
        if self._conn is not None:
            self._conn.schedule(self)

    def end(self) -> None:
        """Close the request side (END_STREAM) once queued data is sent. Idempotent."""
        if not self._end_requested and not self._done:
            self._end_requested = True
            if self._conn is not None:
                self._conn.schedule(self)

    async def response_head(self) -> ResponseHead:
        """Wait for the response status and headers."""
        while self._head is None:
            if self._error is not None:
                raise self._error
            if self._remote_ended:
                raise TransportError("response ended without headers")
            self._head_waiter = self._loop.create_future()
            await self._head_waiter
        return self._head

    async def read(self) -> bytes:
        """Next chunk of the response body; b"" once the response ended. Raises TransportError on failure."""
        while True:
            if self._chunks:
                return self._chunks.popleft()
            if self._remote_ended:
                return b""
            if self._error is not None:
                raise self._error
            self._read_waiter = self._loop.create_future()
            await self._read_waiter

    def deliver_to(self, sink: Callable[[bytes], None]) -> None:
        """From now on, hand each response body chunk to `sink` in the connection's read callback, as it is
        parsed, instead of queueing it for read(): no task wake-up per chunk (~40 µs of the partition's loop
        each). Chunks already queued go to `sink` at once. `sink` must not raise. Then wait with wait_end()."""
        chunks = self._chunks
        while chunks:
            sink(chunks.popleft())
        if not (self._remote_ended or self._done):  # else nothing more comes (and no cycle is kept)
            self._sink = sink

    async def wait_end(self) -> None:
        """Wait until the response ended (after deliver_to). Raises TransportError on failure."""
        while not self._remote_ended:
            if self._error is not None:
                raise self._error
            self._read_waiter = self._loop.create_future()
            await self._read_waiter

    def reset(self) -> None:
        """Cancel the stream (RST_STREAM CANCEL). Safe at any time; idempotent."""
        if not self._done:
            if self._conn is not None:
                self._conn.drop(self, reset=True)
            self._fail(TransportError("stream was reset locally"))

    # -- called by the connection and the pool -----------------------------------------------------

    def _attach(self, conn: Http2Connection) -> None:
        sid = conn.h2.get_next_available_stream_id()
        end = self._end_requested and not self._pending
        conn.h2.send_headers(sid, self._headers, end_stream=end)  # type: ignore[arg-type]
        self._id, self._conn, self._end_sent = sid, conn, end
        conn.added(self)

    def _push(self, h2c: h2.connection.H2Connection) -> bool:
        """Send queued data within the flow-control windows; True when blocked on a window."""
        sid, pending = self._id, self._pending
        while pending:
            window = h2c.local_flow_control_window(sid)
            if window <= 0:
                return True
            limit = min(window, h2c.max_outbound_frame_size)
            chunk = pending.popleft()
            size = len(chunk)
            if size > limit:  # split without copying the rest
                view = memoryview(chunk)
                pending.appendleft(view[limit:])
                chunk = view[:limit]
            elif pending and size + len(pending[0]) <= limit:  # coalesce small writes into one frame
                parts = [chunk]
                while pending and size + len(pending[0]) <= limit:
                    parts.append(pending.popleft())
                    size += len(parts[-1])
                chunk = b"".join(parts)
            end = self._end_requested and not pending
            h2c.send_data(sid, bytes(chunk) if type(chunk) is memoryview else chunk, end_stream=end)  # type: ignore[arg-type]
            if end:
                self._ended_locally()
        if self._end_requested and not self._end_sent:
            h2c.end_stream(sid)
            self._ended_locally()
        return False

    def _ended_locally(self) -> None:
        self._end_sent = True
        if self._remote_ended and self._conn is not None:
            self._conn.drop(self)
            self._done = True

    def _on_head(self, head: ResponseHead) -> None:
        old = self._head
        if old is None:
            self._head = head
            self._wake()
        elif (old.status, old.get("content-type")) != (head.status, head.get("content-type")):
            if self._conn is not None:  # a retried stream must not contradict the head already seen
                self._conn.drop(self, reset=True)
            self._fail(TransportError(f"retried stream got status {head.status} after {old.status}"))

    def _on_data(self, data: bytes) -> None:
        self._retained = None
        if self._sink is not None:
            self._sink(data)
            return
        self._chunks.append(data)
        w = self._read_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _on_end(self) -> None:
        self._remote_ended, self._retained, self._sink = True, None, None  # no stream <-> sink cycle left
        if self._end_sent and self._conn is not None:
            self._conn.drop(self)
            self._done = True
        self._wake()

    def _replayable(self, goaway: bool) -> bool:
        # Only streams that got nothing from the peer, or just a head from a peer that is going away
        # (hypercorn answers the stream that triggers its GOAWAY with a head, then goes silent).
        return (
            (self._head is None or goaway)
            and self._retained is not None
            and self._replays < MAX_REPLAYS
            and not self._done
            and not self._pool._closed
        )

    def _fail(self, err: TransportError) -> None:
        if not self._done:
            self._conn, self._done, self._error, self._retained = None, True, err, None
            self._sink = None
            self._pending.clear()
            self._wake()

    def _wake(self) -> None:
        for w in (self._head_waiter, self._read_waiter):
            if w is not None and not w.done():
                w.set_result(None)
