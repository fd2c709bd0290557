"""One h2c connection of the invoker's pool: h2's state machine driven from asyncio, events routed to streams."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from restate import stage_trace

from .h2_state import CONFIG as _CONFIG
from .h2_state import PoolH2Connection as _H2
from .h2_stream import Http2Stream
from .http_common import DeploymentAddress, ResponseHead, TransportError

if TYPE_CHECKING:
    from .http2 import Http2Pool

WINDOW = 16 * 1024 * 1024  # local flow-control window, per stream and for the connection
IGNORED_ERRORS = (h2.exceptions.ProtocolError,)


class Http2Connection(asyncio.Protocol):
    """One TCP connection speaking h2c; owned by the pool."""

    def __init__(self, pool: Http2Pool, address: DeploymentAddress) -> None:
        self.pool, self.address, self.key = pool, address, (address.host, address.port)
        self.loop = asyncio.get_running_loop()
        self.h2 = _H2(config=_CONFIG)
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20,
            },
        )
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = self.loop.create_future()  # set by the peer's first SETTINGS
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.streams: dict[int, Http2Stream] = {}
        self.usable, self.closed, self.goaway, self.opened = True, False, False, 0
        self._dirty: dict[int, Http2Stream] = {}  # streams with something to send
        self._blocked: dict[int, Http2Stream] = {}  # streams waiting for a WINDOW_UPDATE
        self._flush_handle: asyncio.Handle | None = None
        self._handlers: dict[type, Any] = {
            h2.events.DataReceived: self._on_data,
            h2.events.ResponseReceived: self._on_response,
            h2.events.StreamEnded: self._on_end,
            h2.events.WindowUpdated: self._on_window,
            h2.events.RemoteSettingsChanged: self._on_window,
            h2.events.StreamReset: self._on_reset,
            h2.events.ConnectionTerminated: self._on_goaway,
        }

    async def connect(self, timeout: float) -> None:
        t = self.address
        try:
            async with asyncio.timeout(timeout):
                await self.loop.create_connection(lambda: self, t.host, t.port)
                await asyncio.shield(self.ready)
        except TimeoutError:
            self.fail(TransportError(f"connecting to {t.authority} timed out after {timeout}s"))
        except OSError as exc:
            self.fail(TransportError(f"cannot connect to {t.authority}: {exc}"))
        except TransportError:
            pass
        except BaseException:
            self.fail(TransportError(f"connecting to {t.authority} was cancelled"))
            raise

    def has_capacity(self) -> bool:
        limit = min(self.h2.remote_settings.max_concurrent_streams, self.pool.max_streams_per_connection)
        return self.usable and len(self.streams) < limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(WINDOW - 65535)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"lost: {exc}" if exc else "closed by the peer"
        self.fail(TransportError(f"HTTP/2 connection to {self.address.authority} {why}"))

    def data_received(self, data: bytes) -> None:
        if stage_trace.ENABLED:
            stage_trace.mark("invoker: HTTP/2 read")
        if self.closed:
            return
        self.flush()  # frames queued before this data must go out before a GOAWAY is processed
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.flush()
            self.fail(TransportError(f"HTTP/2 protocol error on connection to {self.address.authority}: {exc}"))
            return
        handlers = self._handlers
        for ev in events:
            handler = handlers.get(type(ev))
            if handler is not None:
                handler(ev)
        self.flush()

    def _on_data(self, ev: Any) -> None:
        self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        if (stream := self.streams.get(ev.stream_id)) is not None and ev.data:
            stream._on_data(ev.data)

    def _on_response(self, ev: Any) -> None:
        if (stream := self.streams.get(ev.stream_id)) is not None:
            status, headers = 0, []
            for name, value in ev.headers:
                if name == b":status":
                    status = int(value)
                elif name[:1] != b":":
                    headers.append((name.decode("latin-1"), value.decode("latin-1")))
            stream._on_head(ResponseHead(status, headers))

    def _on_end(self, ev: Any) -> None:
        if (stream := self.streams.get(ev.stream_id)) is not None:
            stream._on_end()

    def _on_window(self, ev: Any) -> None:
        if isinstance(ev, h2.events.WindowUpdated) and ev.stream_id:
            if (stream := self._blocked.get(ev.stream_id)) is not None:
                self._dirty[stream._id] = stream
        elif isinstance(ev, h2.events.WindowUpdated) or SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
            self._dirty.update(self._blocked)
        if not self.ready.done() and isinstance(ev, h2.events.RemoteSettingsChanged):
            self.ready.set_result(None)
            host = self.pool._host(self.key)
            host.backoff.succeeded()
            host.wake_all()  # streams that waited for room may all fit on this new connection

    def _on_reset(self, ev: Any) -> None:
        if (stream := self.streams.get(ev.stream_id)) is not None:
            self.drop(stream)
            code = ev.error_code
            if code == ErrorCodes.REFUSED_STREAM and stream._replayable(False):
                self.pool._replay(stream)
            else:  # after a complete response (RST NO_ERROR = "stop sending") read() still returns the body
                stream._fail(TransportError(f"stream reset by {self.address.authority}: {getattr(code, 'name', code)}"))

    def _on_goaway(self, ev: Any) -> None:
        first, self.goaway = not self.goaway, True
        last = ev.last_stream_id
        for sid in [sid for sid in self.streams if sid > last]:  # never processed by the peer: safe to retry
            stream = self.streams[sid]
            self.drop(stream)
            err = TransportError(f"{self.address.authority} sent GOAWAY before stream {sid} was processed")
            self.pool._replay(stream) if stream._replayable(True) else stream._fail(err)
        self.retire()
        if self.streams and first:
            # Servers that stop answering once they sent GOAWAY (hypercorn) close the connection on this PING,
            # which retries or fails their in-flight streams at once; well-behaved servers just answer it.
            self.h2.ping(b"goaway?!")

    def added(self, stream: Http2Stream) -> None:
        self.streams[stream._id] = stream
        self.h2.open_count = len(self.streams)
        self.opened += 1
        if self.pool.max_requests_per_connection and self.opened >= self.pool.max_requests_per_connection:
            self.retire()
        self.schedule(stream)

    def schedule(self, stream: Http2Stream) -> None:
        self._dirty[stream._id] = stream
        if self._flush_handle is None and not self.closed:
            self._flush_handle = self.loop.call_soon(self.flush)

    def drop(self, stream: Http2Stream, reset: bool = False) -> None:
        sid = stream._id
        if self.streams.pop(sid, None) is None:
            return
        self.h2.open_count = len(self.streams)
        self._dirty.pop(sid, None)
        self._blocked.pop(sid, None)
        stream._conn = None
        self.pool._host(self.key).wake()  # a stream slot freed
        if reset and not self.closed:
            try:
                self.h2.reset_stream(sid, ErrorCodes.CANCEL)
            except IGNORED_ERRORS:
                pass
            if self._flush_handle is None:
                self._flush_handle = self.loop.call_soon(self.flush)
        if not self.usable and not self.streams:
            self.close()

    def flush(self) -> None:
        """Send what the dirty streams have queued, then everything h2 has buffered."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.closed or self.transport is None:
            return
        while self._dirty:
            dirty, self._dirty = self._dirty, {}
            for sid, stream in dirty.items():
                if stream._conn is not self:
                    continue
                try:
                    blocked = stream._push(self.h2)
                except IGNORED_ERRORS as exc:  # stream closed under us (e.g. reset by the peer)
                    self.drop(stream)
                    stream._fail(TransportError(f"cannot send on stream {sid}: {exc!r}"))
                    continue
                if blocked:
                    self._blocked[sid] = stream
                else:
                    self._blocked.pop(sid, None)
        out = self.h2.data_to_send()
        if out and not self.closed:  # a stream finishing above may have closed the connection
            if stage_trace.ENABLED:
                stage_trace.mark("invoker: HTTP/2 write")
            self.transport.write(out)

    def retire(self) -> None:
        """Open no new streams here; close once the in-flight ones are done."""
        if self.usable:
            self.usable = False
            self.pool._forget(self)
        if not self.streams:
            self.close()

    def close(self) -> None:
        if not self.closed and not self.goaway:
            try:
                self.h2.close_connection()
            except IGNORED_ERRORS:
                pass
        self.flush()
        self.fail(TransportError(f"HTTP/2 connection to {self.address.authority} was closed"))

    def fail(self, err: TransportError) -> None:
        """Tear the connection down; streams that got no response are retried elsewhere, others fail."""
        if self.closed:
            return
        self.closed, self.usable = True, False
        self.pool._forget(self)
        self.pool._closed_connection(self)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if not self.ready.done():  # the connect failed: hold further connects back for a while
            self.pool._host(self.key).backoff.failed(str(err), self.loop.time())
            self.ready.set_exception(err)
        streams = list(self.streams.values())
        self.streams.clear()
        self._dirty.clear()
        self._blocked.clear()
        for stream in streams:
            stream._conn = None
            self.pool._replay(stream) if stream._replayable(self.goaway) else stream._fail(err)
        if self.transport is not None:
            self.transport.close()
