"""The PartitionClient against fake admin and partition nodes on the real transport, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from restate.ids import partition_for, partition_key_for
from restate.ingress import routing
from restate.ingress.partition_client import PartitionClient
from restate.ipc.node import Node
from restate.schema import Schema
from restate.wire import (
    Accepted,
    Done,
    Failure,
    GetSchema,
    InvocationDone,
    InvocationRequest,
    Invoke,
    Message,
    NotFound,
    NotReady,
    Outcome,
    OutputRequest,
    ResolveAwakeable,
    SchemaAck,
    SchemaUpdate,
    Target,
)
from tests.unit.ingress.fixtures import SCHEMA

T = TypeVar("T")
TIMEOUT_S = 5.0


def _request(key: str = "k1") -> InvocationRequest:
    invocation_id = routing.invocation_id_for("Counter", "add", key, None)
    target = Target("Counter", "add", key, "virtual_object", True)
    return InvocationRequest(invocation_id.to_bytes(), target, b"1", [("x-restate-ingress-path", "/Counter/k1/add")])


async def _recv(node: Node) -> tuple[str, Message]:
    return await asyncio.wait_for(node.recv(), TIMEOUT_S)


def _run(tmp_path: Path, scenario: Callable[[Path], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(tmp_path), 30))


@dataclass
class Cluster:
    client: PartitionClient
    admin: Node
    partitions: list[Node]


@contextlib.asynccontextmanager
async def _cluster(base: Path, partitions: int = 1, handshake: bool = True, **kwargs: float) -> AsyncIterator[Cluster]:
    """A client plus fake admin and partition nodes; everything is closed inside the running loop."""
    admin = Node(base, "admin")
    nodes = [Node(base, f"p{i}") for i in range(partitions)]
    client = PartitionClient(base, partitions, **kwargs)
    try:
        admin.bind()
        for node in nodes:
            node.bind()
        client.start()
        if handshake:
            assert await _recv(admin) == ("ingress", GetSchema())
            admin.send("ingress", SchemaUpdate(SCHEMA))
            assert await _recv(admin) == ("ingress", SchemaAck(SCHEMA.version))
        yield Cluster(client, admin, nodes)
    finally:
        await client.close()
        for node in (admin, *nodes):
            node.close()


def test_schema_handshake(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            assert c.client.schema == SCHEMA and c.client.schema_received.is_set()
            c.admin.send("ingress", SchemaUpdate(Schema(version=SCHEMA.version - 1)))
            assert await _recv(c.admin) == ("ingress", SchemaAck(SCHEMA.version - 1))
            assert c.client.schema == SCHEMA  # an older version never replaces a newer one
            newer = Schema(version=SCHEMA.version + 1)
            c.admin.send("ingress", SchemaUpdate(newer))
            assert await _recv(c.admin) == ("ingress", SchemaAck(newer.version))
            assert c.client.schema == newer

    _run(tmp_path, scenario)


def test_get_schema_is_repeated_until_admin_answers(tmp_path: Path) -> None:
    async def scenario(base: Path) -> float:
        async with _cluster(base, handshake=False, schema_retry_s=0.2) as c:
            assert await _recv(c.admin) == ("ingress", GetSchema())
            started = time.monotonic()
            assert await _recv(c.admin) == ("ingress", GetSchema())  # the first one went unanswered
            elapsed = time.monotonic() - started
            c.admin.send("ingress", SchemaUpdate(SCHEMA))
            assert await _recv(c.admin) == ("ingress", SchemaAck(SCHEMA.version))
            await asyncio.sleep(0.5)
            assert c.admin.recv_nowait() is None  # no more GetSchema once a schema arrived
            return elapsed

    assert 0.15 <= _run(tmp_path, scenario) < 2.0


def test_call_accepted_then_done(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            p0 = c.partitions[0]
            request = _request()
            call = asyncio.create_task(c.client.call(request))
            sender, invoke = await _recv(p0)
            assert sender == "ingress"
            assert isinstance(invoke, Invoke) and invoke.request == request and not invoke.send
            p0.send("ingress", Accepted(invoke.request_id, request.invocation_id))
            await asyncio.sleep(0.05)
            assert not call.done()  # a call waits for the outcome, not for Accepted
            unknown = invoke.request_id + 999  # answers nobody waits for are ignored
            p0.send("ingress", Accepted(unknown, request.invocation_id))
            p0.send("ingress", InvocationDone(unknown, request.invocation_id, Outcome(value=b"x")))
            p0.send("ingress", InvocationDone(invoke.request_id, request.invocation_id, Outcome(value=b"5")))
            done = await asyncio.wait_for(call, TIMEOUT_S)
            assert done.outcome == Outcome(value=b"5")
            assert c.client.in_flight == 0
            await asyncio.sleep(1.3)
            assert p0.recv_nowait() is None  # accepted in time: never re-sent

    _run(tmp_path, scenario)


def test_send_resolves_on_accepted(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            p0 = c.partitions[0]
            request = _request()
            send = asyncio.create_task(c.client.send(request))
            _, invoke = await _recv(p0)
            assert isinstance(invoke, Invoke) and invoke.send
            p0.send("ingress", Accepted(invoke.request_id, request.invocation_id, True, 1234))
            accepted = await asyncio.wait_for(send, TIMEOUT_S)
            assert (accepted.previously_accepted, accepted.execute_at_ms) == (True, 1234)
            assert c.client.in_flight == 0

    _run(tmp_path, scenario)


def test_invoke_without_accepted_is_resent_after_the_resend_interval(tmp_path: Path) -> None:
    async def scenario(base: Path) -> float:
        async with _cluster(base) as c:
            p0 = c.partitions[0]
            request = _request()
            call = asyncio.create_task(c.client.call(request))
            _, first = await _recv(p0)  # dropped, as by a partition that crashed before committing
            started = time.monotonic()
            _, second = await _recv(p0)
            elapsed = time.monotonic() - started
            assert isinstance(first, Invoke)
            assert second == first  # same request id, same invocation id
            p0.send("ingress", Accepted(first.request_id, request.invocation_id))
            await asyncio.sleep(1.5)
            assert p0.recv_nowait() is None  # accepted: no more re-sends while the call runs
            p0.send("ingress", InvocationDone(first.request_id, request.invocation_id, Outcome(value=b"ok")))
            assert (await asyncio.wait_for(call, TIMEOUT_S)).outcome.value == b"ok"
            return elapsed

    assert 0.2 <= _run(tmp_path, scenario) < 2.0  # the first re-send comes after 0.25 s


def test_requests_are_routed_by_partition_key(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base, partitions=2) as c:
            keys = {partition_for(partition_key_for(k), 2): k for k in (f"key-{i}" for i in range(20))}
            assert set(keys) == {0, 1}
            for index, key in keys.items():
                request = _request(key)
                send = asyncio.create_task(c.client.send(request))
                _, invoke = await _recv(c.partitions[index])
                assert isinstance(invoke, Invoke) and invoke.request.target.key == key
                c.partitions[index].send("ingress", Accepted(invoke.request_id, request.invocation_id))
                await asyncio.wait_for(send, TIMEOUT_S)

    _run(tmp_path, scenario)


def test_close_fails_pending_requests(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            call = asyncio.create_task(c.client.call(_request()))
            await _recv(c.partitions[0])
            await c.client.close()
            with pytest.raises(ConnectionError):
                await call

    _run(tmp_path, scenario)


def test_cancelled_request_is_forgotten(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            call = asyncio.create_task(c.client.call(_request()))
            await _recv(c.partitions[0])
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            assert c.client.in_flight == 0

    _run(tmp_path, scenario)


def test_send_answered_by_its_outcome_counts_as_accepted(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            p0 = c.partitions[0]
            request = _request()
            send = asyncio.create_task(c.client.send(request))
            _, invoke = await _recv(p0)
            assert isinstance(invoke, Invoke)
            p0.send("ingress", InvocationDone(invoke.request_id, request.invocation_id, Outcome(value=b"1")))
            accepted = await asyncio.wait_for(send, TIMEOUT_S)
            assert accepted == Accepted(invoke.request_id, request.invocation_id)

    _run(tmp_path, scenario)


def test_output_answers(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base) as c:
            p0 = c.partitions[0]
            invocation_id = _request().invocation_id
            answers: list[Message] = []
            for wait, make in [
                (False, lambda rid: NotReady(rid, invocation_id)),
                (False, lambda rid: NotFound(rid)),
                (True, lambda rid: InvocationDone(rid, invocation_id, Outcome(value=b"v"), 123, True)),
            ]:
                task = asyncio.create_task(c.client.output(invocation_id, wait))
                sender, request = await _recv(p0)
                assert sender == "ingress" and isinstance(request, OutputRequest)
                assert (request.invocation_id, request.wait) == (invocation_id, wait)
                p0.send("ingress", make(request.request_id))
                answers.append(await asyncio.wait_for(task, TIMEOUT_S))
            assert [type(a) for a in answers] == [NotReady, NotFound, InvocationDone]
            done = answers[2]
            assert isinstance(done, InvocationDone) and (done.expires_at_ms, done.replayed) == (123, True)
            assert c.client.in_flight == 0

    _run(tmp_path, scenario)


def test_attach_is_resent_until_answered_with_backoff(tmp_path: Path) -> None:
    async def scenario(base: Path) -> list[float]:
        async with _cluster(base, resend_after_s=0.2, max_resend_s=0.4) as c:
            p0 = c.partitions[0]
            invocation_id = _request().invocation_id
            task = asyncio.create_task(c.client.output(invocation_id, True))
            _, first = await _recv(p0)
            started = time.monotonic()
            times = []
            for _ in range(4):
                _, again = await _recv(p0)
                assert again == first  # unchanged: same request id
                times.append(time.monotonic() - started)
            assert isinstance(first, OutputRequest)
            p0.send("ingress", InvocationDone(first.request_id, invocation_id, Outcome(value=b"ok")))
            assert (await asyncio.wait_for(task, TIMEOUT_S)).request_id == first.request_id
            await asyncio.sleep(0.6)
            assert p0.recv_nowait() is None  # answered: no more re-sends
            return times

    times = _run(tmp_path, scenario)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert 0.1 <= gaps[0] < 0.35  # resend_after_s
    assert all(0.3 <= g < 0.6 for g in gaps[1:])  # doubled, capped at max_resend_s


def test_resolve_awakeable_waits_for_done(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _cluster(base, partitions=2) as c:
            invocation_id = routing.invocation_id_for("Counter", "add", "key-7", None)
            index = partition_for(invocation_id.partition_key, 2)
            outcome = Outcome(failure=Failure(500, "nope"))
            task = asyncio.create_task(c.client.resolve_awakeable(invocation_id.to_bytes(), 17, outcome))
            _, request = await _recv(c.partitions[index])
            assert isinstance(request, ResolveAwakeable)
            assert (request.invocation_id, request.signal_idx, request.outcome) == (
                invocation_id.to_bytes(),
                17,
                outcome,
            )
            await asyncio.sleep(0.05)
            assert not task.done()
            c.partitions[index].send("ingress", Done(request.request_id))
            assert await asyncio.wait_for(task, TIMEOUT_S) is None

    _run(tmp_path, scenario)
