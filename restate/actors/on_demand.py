"""Children run only while needed (the Kafka process, while a subscription exists): admin says, the supervisor acts."""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Literal

import msgspec


class Demand(msgspec.Struct, frozen=True, array_like=True):
    """Admin -> supervisor, over a pipe the supervisor made: whether the Kafka process is needed (at least one
    subscription). Sent when admin starts and whenever that changes, so the supervisor never polls."""

    kafka: bool


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Demand)


def encode(demand: Demand) -> bytes:
    return _encoder.encode(demand)


def decode(raw: bytes) -> Demand:
    return _decoder.decode(raw)


class DemandSender:
    """Admin's end of the pipe (None outside a supervisor: nobody to tell); sends only what changed."""

    def __init__(self, conn: Connection | None) -> None:
        self._conn = conn
        self._last: bool | None = None

    def send(self, kafka: bool) -> None:
        if self._conn is None or kafka == self._last:
            return
        self._conn.send_bytes(encode(Demand(kafka)))  # a few bytes: never fills the pipe's buffer
        self._last = kafka


Move = Literal["none", "start", "stop", "restart"]


@dataclass
class OnDemand:
    """What the supervisor does with an on-demand child: start it when wanted, stop it (SIGTERM) when no
    longer wanted, and tell a stop it asked for (not a crash) from a crash (restarted with back-off)."""

    wanted: bool = False
    stopping: bool = False  # asked to stop and not exited yet

    def on_demand(self, wanted: bool, started: bool) -> Move:
        """`started`: a process exists that has not been reaped yet (alive, or dead and not seen so)."""
        self.wanted = wanted
        if wanted and not started:
            return "start"
        if not wanted and started and not self.stopping:
            self.stopping = True
            return "stop"
        return "none"  # already as wanted, or wanted again while stopping: started again once it exited

    def on_exit(self) -> tuple[bool, Move]:
        """Its process was found dead: (was it a crash, what next)."""
        crashed = not self.stopping
        self.stopping = False
        if not self.wanted:
            return crashed, "none"
        return crashed, "restart" if crashed else "start"
