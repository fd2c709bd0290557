"""The ingress process: uvloop, the PartitionClient and uvicorn serving the ingress app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn
import uvloop

from restate.actors import logs
from restate.actors.profiling import run_profiled
from restate.config import Config
from restate.ingress.app import IngressApp
from restate.ingress.bare_bad_request import BareBadRequestProtocol
from restate.ingress.partition_client import PartitionClient
from restate.tracing import exporter as tracing_exporter

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: we stop it ourselves, then close the client."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_ingress(config: Config, sockets: list[socket.socket] | None = None) -> None:
    """Runs the ingress until SIGTERM or SIGINT, then drains in-flight requests and exits.

    It serves on `sockets` when given (the supervisor's, already listening), else binds the address itself."""
    logs.configure("ingress")
    run_profiled("ingress", config.base_dir, lambda: uvloop.run(_serve(config, sockets)))


async def _serve(config: Config, sockets: list[socket.socket] | None) -> None:
    host, port = config.host_port("ingress")
    client = PartitionClient(
        config.base_dir,
        config.default_num_partitions,
        cluster=config.cluster,
        max_unacked_per_partition=config.ingress_partition_backlog_limit,
    )
    client.start()
    tracer = tracing_exporter.setup(config, "ingress")  # None: tracing is off
    app = IngressApp(client, config.request_size_limit, tracer, config.ingress_concurrency_limit)
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http=BareBadRequestProtocol,  # httptools, answering unparsable requests as hyper does
            ws="none",  # no WebSocket routes: and uvicorn would load a WebSocket implementation at start
            lifespan="off",
            access_log=False,
            server_header=False,
            proxy_headers=False,  # we trust no forwarding proxy, and the middleware costs on every request
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    )

    def stop(sig: signal.Signals) -> None:
        if server.should_exit:
            server.force_exit = sig == signal.SIGINT or server.force_exit
            return
        server.should_exit = True
        # Calls still waiting just before uvicorn gives up on them get a 503 in Restate's shape
        # (retryable) instead of uvicorn's bare 500.
        loop.call_later(max(GRACEFUL_SHUTDOWN_S - 0.5, 0), client.fail_pending)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await server.serve(sockets)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await client.close()
        if tracer is not None:
            tracer.shutdown()
    log.info("ingress stopped")
