"""h2's connection state machine as the invoker's HTTP/2 pool needs it (GOAWAY, header encoding, stream count)."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection

from .hpack_static import StaticTableEncoder

CONFIG = h2.config.H2Configuration(
    client_side=True,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
    validate_inbound_headers=False,
)


class PoolH2Connection(h2.connection.H2Connection):
    """h2 treats a received GOAWAY as the end of everything; we keep the connection open for in-flight streams.
    Request headers are encoded without the dynamic table (cheaper, see StaticTableEncoder)."""

    open_count = 0  # streams the pool considers open on this connection
    _scans = 0

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.encoder = StaticTableEncoder()  # type: ignore[assignment]  # see restate/invoker/hpack_static.py

    def _receive_goaway_frame(self, frame: Any) -> Any:
        state = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        if state is h2.connection.ConnectionState.CLIENT_OPEN:
            self.state_machine.state = state
        return result

    def clear_outbound_data_buffer(self) -> None:  # called on GOAWAY: keep frames for streams that go on
        pass

    @property
    def open_outbound_streams(self) -> int:  # h2 scans all streams for every new one: do it 1 in 64 times
        self._scans += 1
        return self._open_streams(1) if self._scans % 64 == 0 else self.open_count
