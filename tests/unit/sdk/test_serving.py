"""`restate.serve`: loopback by default, `host=` to listen elsewhere, invalid addresses refused up front."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import restate
from restate.sdk import serving
from tests.support import free_port
from tests.support.sockets import listening_addresses

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}!"


APP = restate.app(services=[greeter])


@pytest.fixture
def served_configs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replaces hypercorn's serve: records the Config `restate.serve` would listen with."""
    import hypercorn.asyncio

    configs: list[Any] = []

    async def fake_serve(app: Any, config: Any, **_: Any) -> None:
        configs.append(config)

    monkeypatch.setattr(hypercorn.asyncio, "serve", fake_serve)
    return configs


def test_serve_listens_on_loopback_by_default(served_configs: list[Any]) -> None:
    restate.serve(APP)
    assert [c.bind for c in served_configs] == [["127.0.0.1:9080"]]


@pytest.mark.parametrize(
    ("host", "port", "bind"),
    [
        ("0.0.0.0", 9080, "0.0.0.0:9080"),
        ("::", 1234, "[::]:1234"),
        ("[::1]", 0, "[::1]:0"),
        ("localhost", 80, "localhost:80"),
    ],
)
def test_serve_host_and_port_choose_the_interface(served_configs: list[Any], host: str, port: int, bind: str) -> None:
    restate.serve(APP, host=host, port=port)
    assert [c.bind for c in served_configs] == [[bind]]


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [("", 9080, "invalid host"), ("[]", 9080, "invalid host"), ("127.0.0.1", 65536, "invalid port"),
     ("127.0.0.1", -1, "invalid port"), ("127.0.0.1", "9080", "invalid port"), ("127.0.0.1", True, "invalid port")],
)  # fmt: skip
def test_serve_refuses_an_invalid_address(served_configs: list[Any], host: str, port: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        restate.serve(APP, host=host, port=port)
    assert served_configs == []


def test_serve_async_default_socket_is_loopback_only() -> None:
    port = free_port()

    async def scenario() -> set[str]:
        stop = asyncio.Event()
        server = asyncio.create_task(serving.serve_async(APP, port=port, shutdown_trigger=stop.wait))
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                for _ in range(200):  # bounded: 10 s
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert not server.done(), "the server stopped before answering /health"
                    await asyncio.sleep(0.05)
                else:
                    raise TimeoutError(f"no answer on 127.0.0.1:{port}/health")
            return listening_addresses(port)
        finally:
            stop.set()
            await asyncio.wait_for(server, 10)

    assert asyncio.run(scenario()) == {"127.0.0.1"}
