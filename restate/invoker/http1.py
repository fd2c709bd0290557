"""HTTP/1.1 client for request/response deployments, built on `h11`: keep-alive connections, pooled and
bounded per address."""

from __future__ import annotations

import asyncio
import time

import h11

from .host_slots import HostSlots
from .http_common import DeploymentAddress, ResponseHead, TransportError, TransportTimeoutError, parse_base_url

_READ_SIZE = 256 * 1024
IDLE_TIMEOUT_S = 30.0  # an idle connection older than this is closed rather than reused
# A request whose fresh connection the deployment closes before answering waits for a pooled connection
# again at most this many times; then it fails as a transport error (a deployment that closes everything).
PUSH_BACK_REQUEUES = 8


class _StaleConnectionError(TransportError):
    """A kept-alive connection the peer had closed: nothing of the request was answered, send it again."""


class _PushedBackError(TransportError):
    """The deployment closed a fresh connection before any byte of the response: it keeps fewer connections
    than are open (back-pressure); the request was not answered, send it again on a pooled connection."""


class _Conn:
    """One TCP connection and its h11 state machine."""

    __slots__ = ("conn", "idle_since", "key", "reader", "reused", "writer")

    def __init__(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key, self.reader, self.writer = key, reader, writer
        self.conn = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.reused = False

    def alive(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof() or self.reader.exception() is not None)


class Http1Response:
    """A response whose head has arrived; read the body with read(), then close()."""

    def __init__(self, client: Http1Client, conn: _Conn, authority: str) -> None:
        self._client, self._authority = client, authority
        self._c: _Conn | None = conn
        self._ended = False
        self._received = False  # any byte of the response arrived
        self.head = ResponseHead(0)

    async def _next_event(self) -> object:
        c = self._c
        if c is None:
            raise TransportError(f"HTTP/1.1 connection to {self._authority} was closed")
        conn = c.conn
        while True:
            try:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = await c.reader.read(_READ_SIZE)
                    except OSError as exc:
                        if not self._received:
                            if c.reused:
                                raise _StaleConnectionError(f"kept-alive connection lost: {exc}") from exc
                            raise _PushedBackError(f"{self._authority} dropped a new connection: {exc}") from exc
                        raise TransportError(f"HTTP/1.1 connection to {self._authority} lost: {exc}") from exc
                    if data:
                        self._received = True
                    elif not self._received:
                        if c.reused:
                            raise _StaleConnectionError(f"{self._authority} had closed the kept-alive connection")
                        raise _PushedBackError(f"{self._authority} closed a new connection before responding")
                    conn.receive_data(data)
                    continue
            except h11.RemoteProtocolError as exc:
                self.close()
                raise TransportError(f"HTTP/1.1 protocol error from {self._authority}: {exc}") from exc
            return event

    async def _read_head(self) -> None:
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                self.head = ResponseHead(
                    event.status_code, [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
                )
                self._client._answered(self._authority_key())
                return
            if isinstance(event, h11.ConnectionClosed):
                raise TransportError(f"{self._authority} closed the connection before responding")

    def _authority_key(self) -> tuple[str, int] | None:
        return None if self._c is None else self._c.key

    async def read(self) -> bytes:
        """Next chunk of the body; b"" at the end. Raises TransportError if the body is cut short."""
        while not self._ended:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                if event.data:
                    return bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                self._ended = True
                self._finish()
        return b""

    def _finish(self) -> None:
        """The response is complete: the connection goes back to the pool if both sides allow it."""
        c, self._c = self._c, None
        if c is not None:
            conn = c.conn
            reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
            if reusable:
                conn.start_next_cycle()
            self._client._release(c, reusable)

    def close(self) -> None:
        """Close the connection unless the response was complete (idempotent)."""
        c, self._c = self._c, None
        if c is not None:
            self._client._release(c, False)


class Http1Client:
    """HTTP/1.1 requests with a fully buffered request body (Content-Length, or chunked if asked for).

    Connections are kept alive and reused, at most `max_connections` per address (open ones, idle or
    in use): a request beyond waits, FIFO, for one to come back. A connect failure holds further
    connects to that address back for a while (ConnectBackoff). A deployment that closes a fresh
    connection before answering (a proxy keeping fewer connections) is back-pressure, not a failure:
    the address's cap is lowered to the connections it keeps (ConnectionCap) and the request waits for
    a pooled connection again, at most `push_back_requeues` times before it fails."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        max_connections: int | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
        push_back_requeues: int = PUSH_BACK_REQUEUES,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.push_back_requeues = push_back_requeues
        self.pushed_back = 0  # requests sent again after a push-back (all addresses), for tests and stats
        self._hosts: dict[tuple[str, int], HostSlots] = {}
        self._idle: dict[tuple[str, int], list[_Conn]] = {}  # most recently used last: reused first
        self._closed = False

    def open_connections(self, host: str, port: int) -> int:
        """Connections to host:port that are open (idle or in use)."""
        found = self._hosts.get((host, port))
        return 0 if found is None else found.open

    def connection_cap(self, host: str, port: int) -> int | None:
        """The current bound on open connections to host:port (None: unbounded)."""
        found = self._hosts.get((host, port))
        return self.max_connections if found is None else found.cap.value

    async def open(
        self, base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> Http1Response:
        """Send the request with its whole body; return once the response head arrived."""
        address = parse_base_url(base_url)
        names = {k.lower() for k, _ in headers}
        hdrs = list(headers)
        if "host" not in names:
            hdrs.insert(0, ("host", address.authority))
        if "transfer-encoding" not in names and "content-length" not in names and (body or method != "GET"):
            hdrs.append(("content-length", str(len(body))))
        requeues = 0
        while True:
            c = await self._acquire(address)
            response = Http1Response(self, c, address.authority)
            try:
                out = [c.conn.send(h11.Request(method=method, target=address.path(path), headers=hdrs))]
                if body:
                    out.append(c.conn.send(h11.Data(data=body)))
                out.append(c.conn.send(h11.EndOfMessage()))
                # The peer may answer before it read the body: write without waiting, read the head concurrently.
                c.writer.writelines([b for b in out if b])
                await response._read_head()
            except _StaleConnectionError:
                response.close()
                continue  # a fresh connection (idle ones are checked, but the peer may close at any moment)
            except _PushedBackError:
                host = self._hosts[c.key]
                response.close()  # before lowering the cap: `open` no longer counts this connection
                host.cap.pushed_back(host.open)
                if requeues >= self.push_back_requeues:
                    raise
                requeues += 1
                self.pushed_back += 1
                continue  # wait for a pooled connection (or room under the lowered cap)
            except h11.LocalProtocolError as exc:
                response.close()
                raise TransportError(f"cannot send HTTP/1.1 request: {exc}") from exc
            except BaseException:
                response.close()
                raise
            return response

    async def request(
        self,
        base_url: str,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        timeout: float = 30.0,
    ) -> tuple[ResponseHead, bytes]:
        """Send a request and collect the whole response."""
        response: Http1Response | None = None
        try:
            async with asyncio.timeout(timeout):
                response = await self.open(base_url, method, path, headers, body)
                parts = []
                while chunk := await response.read():
                    parts.append(chunk)
        except TimeoutError:
            raise TransportTimeoutError(f"{method} {base_url} {path} timed out after {timeout}s") from None
        finally:
            if response is not None:
                response.close()
        return response.head, b"".join(parts)

    def close(self) -> None:
        """Closes the idle connections; those in use close when their response ends. Waiters fail."""
        self._closed = True
        for key, host in self._hosts.items():
            idle = self._idle.pop(key, [])
            for c in idle:
                c.writer.close()
            host.open -= len(idle)
            host.fail_waiters(TransportError("the HTTP/1.1 client was closed"))

    # --- the pool

    async def _acquire(self, address: DeploymentAddress) -> _Conn:
        """An idle live connection, else a new one if the bound allows, else wait for one to come back."""
        key = (address.host, address.port)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = HostSlots(self.max_connections)
        while True:
            if self._closed:
                raise TransportError("the HTTP/1.1 client is closed")
            c = self._take_idle(key, host)
            if c is not None:
                return c
            if host.cap.allows(host.open):
                return await self._connect(address, host)
            await host.wait_for_room()

    def _take_idle(self, key: tuple[str, int], host: HostSlots) -> _Conn | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            c = idle.pop()
            if c.alive() and now - c.idle_since < self.idle_timeout:
                c.reused = True
                return c
            c.writer.close()
            host.open -= 1
        return None

    async def _connect(self, address: DeploymentAddress, host: HostSlots) -> _Conn:
        host.backoff.check(address.authority, time.monotonic())
        host.open += 1  # counted before the first await: concurrent connects respect the bound
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(address.host, address.port, limit=_READ_SIZE)
        except BaseException as exc:
            host.open -= 1
            host.wake()
            if isinstance(exc, TimeoutError):
                reason = f"connecting to {address.authority} timed out"
            elif isinstance(exc, OSError):
                reason = f"cannot connect to {address.authority}: {exc}"
            else:
                raise
            host.backoff.failed(reason, time.monotonic())
            raise TransportError(reason) from None
        host.backoff.succeeded()
        return _Conn((address.host, address.port), reader, writer)

    def _answered(self, key: tuple[str, int] | None) -> None:
        host = None if key is None else self._hosts.get(key)
        if host is not None:
            host.cap.answered(host.waiting > 0)

    def _release(self, c: _Conn, reusable: bool) -> None:
        """A connection's exchange ended: keep it idle for the next request, or close it."""
        host = self._hosts[c.key]
        if reusable and not self._closed and c.alive():
            c.idle_since = time.monotonic()
            self._idle.setdefault(c.key, []).append(c)
        else:
            c.writer.close()
            host.open -= 1
        host.wake()
