"""Discovery over a fake HTTP client (request shape, retries, errors) and the schema publisher over a fake bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from restate import wire
from restate.admin import discovery
from restate.admin.discovery import discover_with
from restate.admin.errors import AdminError
from restate.admin.manifest import ACCEPT
from restate.admin.process import SchemaPublisher, peers_of
from restate.config import Config
from restate.invoker.http_common import ResponseHead, TransportError
from restate.schema import Schema
from tests.unit.admin.helpers import SDK, V4, manifest_bytes

T = TypeVar("T")
URI = "http://127.0.0.1:29080/"
OK = (ResponseHead(200, [("content-type", V4), ("x-restate-server", SDK)]), manifest_bytes("transcript"))


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


class FakeClient:
    """Answers requests from a script: each item is a (head, body) pair or an exception to raise."""

    def __init__(self, *script: tuple[ResponseHead, bytes] | Exception) -> None:
        self.script = list(script)
        self.calls: list[tuple[Any, ...]] = []

    async def request(self, *args: Any) -> tuple[ResponseHead, bytes]:
        self.calls.append(args)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "BACKOFF_S", 0.0)


def _discover(client: FakeClient, headers: dict[str, str] | None = None) -> Any:
    return run(discover_with(client.request, URI, headers or {}, "HTTP/2.0"))


def test_request_shape_and_result() -> None:
    client = FakeClient(OK)
    found = _discover(client, {"x-my-header": "secret-val"})
    assert client.calls == [
        (
            URI,
            "GET",
            "/discover",
            [("accept", ACCEPT), ("x-restate-cluster-name", "localcluster"), ("x-my-header", "secret-val")],
            b"",
            discovery.TIMEOUT_S,
        )
    ]
    assert (found.sdk_version, found.http_version, len(found.services)) == (SDK, "HTTP/2.0", 3)


def test_transport_errors_are_retried_then_meta0003() -> None:
    client = FakeClient(*[TransportError("Connection refused")] * discovery.ATTEMPTS)
    with pytest.raises(AdminError) as info:
        _discover(client)
    err = info.value
    assert (err.status, err.code, len(client.calls)) == (500, "META0003", discovery.ATTEMPTS)
    assert err.message == f"[META0003] [META0003] error when calling '{URI}': Connection refused"


def test_a_transient_failure_recovers() -> None:
    client = FakeClient(TransportError("reset"), (ResponseHead(503, []), b"busy"), OK)
    assert len(_discover(client).services) == 3


def test_404_is_not_retried() -> None:
    client = FakeClient((ResponseHead(404, [("content-type", "text/plain")]), b"nope"))
    with pytest.raises(AdminError) as info:
        _discover(client)
    assert len(client.calls) == 1
    assert info.value.message == (
        "[META0003] [META0003] got status code '404'. Make sure the provided URI has the correct path where the "
        'Restate SDK endpoint is mounted. Response headers: {"content-type": "text/plain"}. Body: nope'
    )


def test_other_statuses() -> None:
    client = FakeClient((ResponseHead(401, []), b""))
    with pytest.raises(AdminError) as info:
        _discover(client)
    assert "got status code '401 Unauthorized'" in info.value.message and len(client.calls) == 1


def test_wrong_content_type_is_meta0013() -> None:
    client = FakeClient((ResponseHead(200, [("content-type", "application/json")]), b"{}"))
    with pytest.raises(AdminError) as info:
        _discover(client)
    assert info.value.code == "META0013"


def test_unreachable_endpoint_through_the_real_client() -> None:
    with pytest.raises(AdminError) as info:
        run(discovery.discover("http://127.0.0.1:1/", {}, False))
    assert (info.value.status, info.value.code) == (500, "META0003")
    with pytest.raises(AdminError) as info:
        run(discovery.discover("http://127.0.0.1:1/", {}, True))
    assert info.value.code == "META0003"


# --- schema publishing --------------------------------------------------------------------------------


class FakeNode:
    def __init__(self) -> None:
        self.sent: list[tuple[str, wire.Message]] = []
        self.inbox: asyncio.Queue[tuple[str, wire.Message]] = asyncio.Queue()

    def send(self, peer: str, message: wire.Message) -> None:
        self.sent.append((peer, message))

    async def recv(self) -> tuple[str, wire.Message]:
        return await self.inbox.get()


def test_peers_are_the_ingress_and_every_partition() -> None:
    assert peers_of(Config(default_num_partitions=3)) == ["ingress", "p0", "p1", "p2"]


def test_publish_waits_for_every_ack() -> None:
    async def scenario() -> None:
        node = FakeNode()
        publisher = SchemaPublisher(node, ["ingress", "p0"], ack_timeout_s=5.0)  # type: ignore[arg-type]
        schema = Schema(version=3)
        serving = asyncio.create_task(publisher.serve(lambda: schema))
        publishing = asyncio.create_task(publisher.publish(schema))
        await asyncio.sleep(0)
        assert [(p, m) for p, m in node.sent] == [
            ("ingress", wire.SchemaUpdate(schema)),
            ("p0", wire.SchemaUpdate(schema)),
        ]
        node.inbox.put_nowait(("ingress", wire.SchemaAck(3)))
        node.inbox.put_nowait(("p0", wire.SchemaAck(2)))  # an older version does not count
        await asyncio.sleep(0.01)
        assert not publishing.done()
        node.inbox.put_nowait(("p0", wire.SchemaAck(3)))
        await asyncio.wait_for(publishing, 1.0)
        node.inbox.put_nowait(("p1", wire.GetSchema()))
        await asyncio.sleep(0.01)
        assert node.sent[-1] == ("p1", wire.SchemaUpdate(schema))
        serving.cancel()

    run(scenario())


def test_publish_gives_up_after_the_timeout() -> None:
    async def scenario() -> None:
        node = FakeNode()
        publisher = SchemaPublisher(node, ["ingress"], ack_timeout_s=0.05)  # type: ignore[arg-type]
        await asyncio.wait_for(publisher.publish(Schema(version=1)), 1.0)
        assert publisher.missing(1) == ["ingress"]

    run(scenario())


def test_the_stored_partition_count_wins() -> None:
    assert peers_of(Config(default_num_partitions=3), 2) == ["ingress", "p0", "p1"]
