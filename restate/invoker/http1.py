"""HTTP/1.1 client for request/response deployments (one TCP connection per request), built on `h11`."""

from __future__ import annotations

import asyncio

import h11

from .http_common import ResponseHead, TransportError, TransportTimeoutError, parse_base_url

_READ_SIZE = 256 * 1024


class Http1Response:
    """A response whose head has arrived; read the body with read(), then close()."""

    def __init__(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
    ) -> None:
        self._conn, self._reader, self._writer, self._authority = conn, reader, writer, authority
        self._ended = False
        self.head = ResponseHead(0)

    async def _next_event(self) -> object:
        conn = self._conn
        while True:
            try:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = await self._reader.read(_READ_SIZE)
                    except OSError as exc:
                        raise TransportError(f"HTTP/1.1 connection to {self._authority} lost: {exc}") from exc
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
                return
            if isinstance(event, h11.ConnectionClosed):
                raise TransportError(f"{self._authority} closed the connection before responding")

    async def read(self) -> bytes:
        """Next chunk of the body; b"" at the end. Raises TransportError if the body is cut short."""
        while not self._ended:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                if event.data:
                    return bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                self._ended = True
                self.close()
        return b""

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._writer.close()


class Http1Client:
    """HTTP/1.1 requests with a fully buffered request body (Content-Length, or chunked if asked for)."""

    def __init__(self, *, connect_timeout: float = 5.0) -> None:
        self.connect_timeout = connect_timeout

    async def open(
        self, base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> Http1Response:
        """Send the request with its whole body; return once the response head arrived."""
        address = parse_base_url(base_url)
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(address.host, address.port, limit=_READ_SIZE)
        except TimeoutError:
            raise TransportError(f"connecting to {address.authority} timed out") from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {address.authority}: {exc}") from exc
        names = {k.lower() for k, _ in headers}
        hdrs = list(headers)
        if "host" not in names:
            hdrs.insert(0, ("host", address.authority))
        if "transfer-encoding" not in names and "content-length" not in names and (body or method != "GET"):
            hdrs.append(("content-length", str(len(body))))
        conn = h11.Connection(h11.CLIENT)
        response = Http1Response(conn, reader, writer, address.authority)
        try:
            out = [conn.send(h11.Request(method=method, target=address.path(path), headers=hdrs))]
            if body:
                out.append(conn.send(h11.Data(data=body)))
            out.append(conn.send(h11.EndOfMessage()))
            # The peer may answer before it read the body: write without waiting, read the head concurrently.
            writer.writelines([b for b in out if b])
            await response._read_head()
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
