"""ASGI plumbing of one invocation attempt: feed the request body to the VM, write its output, wake waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from restate.sdk.vm import VM

__all__ = ["AttemptIO", "Receive", "Send"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AttemptIO:
    """Reads the request body into the VM (in a background task once user code runs) and wakes waiters.

    Waiters (`wait()`) are woken by new input, the end of input, a finished ctx.run, a disconnect or a
    graceful shutdown. Several tasks may wait at once; they share one asyncio future.
    """

    __slots__ = ("_reader", "_receive", "_send", "_waiter", "disconnected", "generation", "input_closed", "vm")

    def __init__(self, vm: VM, receive: Receive, send: Send) -> None:
        self.vm = vm
        self._receive = receive
        self._send = send
        self._waiter: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.input_closed = asyncio.Event()
        self.disconnected = False
        self.generation = 0  # bumped by every wake(); see wait()

    # --- input ---------------------------------------------------------------------------------

    def _on_event(self, event: MutableMapping[str, Any]) -> bool:
        """Apply one ASGI receive event; True when the input is over."""
        kind = event["type"]
        if kind == "http.request":
            body = event.get("body")
            if body:
                self.vm.notify_input(body)
            if event.get("more_body", False):
                return False
            self.vm.notify_input_closed()
        elif kind == "http.disconnect":
            self.disconnected = True
        else:
            return False
        self.input_closed.set()
        return True

    async def read_until_ready(self) -> None:
        """Read the request until the VM has the whole replayed journal (or the input ends)."""
        vm = self.vm
        while not vm.is_ready_to_execute() and not vm.is_closed():
            if self._on_event(await self._receive()):
                return

    def start_reader(self) -> None:
        """Keep reading in the background while user code runs (bidi streams)."""
        if not self.input_closed.is_set() and self._reader is None:
            self._reader = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        receive = self._receive
        while True:
            done = self._on_event(await receive())
            self.wake()
            if done:
                return

    def shutdown(self) -> None:
        """Graceful shutdown (SIGTERM): stop waiting for the server to close its side."""
        self.input_closed.set()
        self.wake()

    # --- waiting -------------------------------------------------------------------------------

    async def wait(self, seen: int) -> None:
        """Wait until something may have changed since `generation` was `seen` (returns at once if it did).

        Callers read `generation` before looking at the VM, so a wake-up that happens in between (for
        instance while output is being flushed) is never lost.
        """
        if self.generation != seen:
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter

    def wake(self) -> None:
        """Wake every waiter."""
        self.generation += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- output --------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Send whatever the VM wrote."""
        data = self.vm.take_output()
        if data:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self) -> None:
        """Send the rest of the output, wait for the server to close its side, then close ours.

        The server closes its request half once it has the terminal message; some ASGI servers drop the
        stream as soon as the response ends, so the response is closed only after that (or on shutdown).
        """
        await self.flush()
        if not self.disconnected:
            self.start_reader()
            await self.input_closed.wait()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def close(self) -> None:
        """Stop the background reader."""
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass
