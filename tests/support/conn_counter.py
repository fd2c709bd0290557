"""A TCP proxy that counts the connections a server holds open to a deployment (now, at peak, in total)."""

from __future__ import annotations

import asyncio
import threading


class ConnectionCounter:
    """A TCP proxy in front of the deployment that counts the connections our server holds open to it, now
    and at peak: every one passes here. A connection counts until our side closes it (a killed partition's
    connections stay half open towards the service while its handlers block: they are no longer ours)."""

    def __init__(self, target_port: int, max_accepted: int | None = None) -> None:
        """max_accepted: a deployment that keeps only that many connections at once and closes any other
        at once, as Node's `server.maxConnections` does (`refused` counts those)."""
        self.target_port = target_port
        self.max_accepted = max_accepted
        self.refused = 0
        self.open = self.peak = self.total = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-counter", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> ConnectionCounter:
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):  # the pipes see the end and finish by themselves
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.total += 1
        if self.max_accepted is not None and self.open >= self.max_accepted:
            self.refused += 1
            writer.transport.abort()
            return
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self.open -= 1
            writer.close()
            return
        self._writers.update((writer, up_writer))
        upstream = asyncio.ensure_future(_pipe(up_reader, writer))
        try:
            await _pipe(reader, up_writer)  # until our server closes its side
        finally:
            self.open -= 1
        try:
            await upstream
        finally:
            writer.close()
            up_writer.close()
            self._writers.difference_update((writer, up_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            try:
                writer.write_eof()
            except OSError:
                pass
