"""`restate.ipc.partition_rpc.PartitionRpc` on the admin node against fake partition nodes on the real transport."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from restate import wire
from restate.admin.app import AdminApp, AdminHooks
from restate.admin.process import SchemaPublisher
from restate.ids import InvocationId, partition_for, partition_key_for
from restate.ipc.node import Node
from restate.ipc.partition_rpc import Overloaded, PartitionRpc
from restate.schema import Schema
from restate.wire import (
    Accepted,
    CommandResult,
    Done,
    GetSchema,
    InvocationDone,
    InvocationRequest,
    Invoke,
    ManageInvocation,
    Message,
    NotFound,
    Outcome,
    PeerReady,
    ReplaceObjectState,
    SchemaAck,
    SchemaUpdate,
    Target,
)
from tests.unit.admin.helpers import CONFIG, call

T = TypeVar("T")
TIMEOUT_S = 5.0
INV = InvocationId.parse("inv_1180LdU4NiLL4hf4VgOQAwFrWYZGeLPAnY")


async def _recv(node: Node) -> tuple[str, Message]:
    return await asyncio.wait_for(node.recv(), TIMEOUT_S)


def _run(tmp_path: Path, scenario: Callable[[Path], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(tmp_path), 30))


@contextlib.asynccontextmanager
async def _admin(base: Path, partitions: int = 1, **kw: float) -> AsyncIterator[tuple[PartitionRpc, list[Node]]]:
    """An "admin" node whose receive loop feeds the PartitionRpc, plus fake partition nodes."""
    admin = Node(base, "admin")
    nodes = [Node(base, f"p{i}") for i in range(partitions)]
    requests = PartitionRpc(admin, partitions, **kw)
    publisher = SchemaPublisher(admin, [])
    tasks: list[asyncio.Task[None]] = []
    try:
        for node in (admin, *nodes):
            node.bind()
        tasks = [
            asyncio.create_task(publisher.serve(Schema, requests.on_message)),
            asyncio.create_task(requests.run_resends()),
        ]
        yield requests, nodes
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        requests.fail_pending("closed")
        for node in (admin, *nodes):
            node.close()


def test_manage_goes_to_the_partition_of_the_id(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base, partitions=2) as (requests, nodes):
            index = partition_for(INV.partition_key, 2)
            task = asyncio.create_task(requests.manage(INV.to_bytes(), "purge_journal"))
            sender, message = await _recv(nodes[index])
            assert sender == "admin"
            assert isinstance(message, ManageInvocation)
            assert (message.invocation_id, message.op) == (INV.to_bytes(), "purge_journal")
            nodes[index].send("admin", NotFound(message.request_id + 1))  # somebody else's answer: ignored
            nodes[index].send("admin", CommandResult(message.request_id, 409, "busy"))
            assert await asyncio.wait_for(task, TIMEOUT_S) == CommandResult(message.request_id, 409, "busy")
            assert requests.in_flight == 0

    _run(tmp_path, scenario)


def test_replace_state_goes_to_the_partition_of_the_key(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base, partitions=2) as (requests, nodes):
            keys = {partition_for(partition_key_for(k), 2): k for k in (f"key-{i}" for i in range(20))}
            assert set(keys) == {0, 1}
            for index, key in keys.items():
                task = asyncio.create_task(requests.replace_state("Counter", key, [(b"count", b"42")], "v1"))
                _, message = await _recv(nodes[index])
                assert isinstance(message, ReplaceObjectState)
                assert message == ReplaceObjectState(message.request_id, "Counter", key, [(b"count", b"42")], "v1")
                nodes[index].send("admin", Done(message.request_id))
                assert await asyncio.wait_for(task, TIMEOUT_S) == Done(message.request_id)

    _run(tmp_path, scenario)


def test_unanswered_requests_are_resent_unchanged(tmp_path: Path) -> None:
    async def scenario(base: Path) -> float:
        async with _admin(base, resend_after_s=0.3) as (requests, nodes):
            task = asyncio.create_task(requests.manage(INV.to_bytes(), "cancel"))
            _, first = await _recv(nodes[0])
            started = time.monotonic()
            _, second = await _recv(nodes[0])
            elapsed = time.monotonic() - started
            assert second == first
            assert isinstance(first, ManageInvocation)
            nodes[0].send("admin", CommandResult(first.request_id, 202))
            nodes[0].send("admin", CommandResult(first.request_id, 404))  # the duplicate's answer: ignored
            assert (await asyncio.wait_for(task, TIMEOUT_S)).status == 202
            return elapsed

    assert 0.2 <= _run(tmp_path, scenario) < 1.0


def test_a_restarted_partition_gets_its_unanswered_requests_at_once(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base, partitions=2, resend_after_s=30.0) as (requests, nodes):
            index = partition_for(INV.partition_key, 2)
            task = asyncio.create_task(requests.manage(INV.to_bytes(), "cancel"))
            _, first = await _recv(nodes[index])
            nodes[1 - index].send("admin", PeerReady(f"p{1 - index}"))  # another partition: nothing to re-send
            nodes[index].send("admin", PeerReady(f"p{index}"))
            _, again = await _recv(nodes[index])  # long before the 30 s re-send timer
            assert again == first
            assert isinstance(first, ManageInvocation)
            nodes[index].send("admin", CommandResult(first.request_id, 202))
            assert (await asyncio.wait_for(task, TIMEOUT_S)).status == 202
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(nodes[1 - index].recv(), 0.2)

    _run(tmp_path, scenario)


class _SentLog:
    """A node that only records what is sent (for the re-send timing, no transport)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send_raw(self, peer: str, payload: bytes) -> None:
        self.sent.append((peer, payload))


def test_a_peer_ready_resend_restarts_the_backoff_without_doubling_the_timers() -> None:
    async def scenario() -> None:
        clock = [100.0]
        node = _SentLog()
        requests = PartitionRpc(node, 1, resend_after_s=1.0, clock=lambda: clock[0])  # type: ignore[arg-type]
        task = asyncio.create_task(requests.manage(INV.to_bytes(), "cancel"))
        await asyncio.sleep(0)
        assert len(node.sent) == 1
        clock[0] = 100.5
        requests.on_message(PeerReady("p0"))
        assert len(node.sent) == 2
        requests.tick(101.2)  # the first timer (due 101.0) is stale now: no re-send
        assert len(node.sent) == 2
        requests.tick(101.5)  # due 1.0 s after the PeerReady re-send
        assert len(node.sent) == 3
        requests.tick(102.0)
        assert len(node.sent) == 3  # next one only 2 s later
        requests.tick(103.5)
        assert len(node.sent) == 4
        task.cancel()

    asyncio.run(scenario())


def test_an_acknowledged_call_is_resent_when_its_partition_restarts_or_gets_a_new_leader() -> None:
    """Its answer may have died with the process that owed it: only the re-send gets it replayed."""

    async def scenario() -> None:
        clock = [100.0]
        node = _SentLog()
        requests = PartitionRpc(node, 1, resend_after_s=1.0, clock=lambda: clock[0])  # type: ignore[arg-type]
        request = InvocationRequest(INV.to_bytes(), Target("Counter", "add", "k"), b"1")
        task = asyncio.create_task(requests.call(request))
        await asyncio.sleep(0)
        [(_, payload)] = node.sent
        [sent] = wire.decode(payload)
        assert isinstance(sent, Invoke)
        request_id = sent.request_id
        requests.on_message(Accepted(request_id, INV.to_bytes()))  # running: acknowledged
        requests.tick(200.0)
        assert len(node.sent) == 1  # acknowledged calls stay off the re-send timers
        requests.on_message(PeerReady("p0"))
        assert node.sent[1:] == [("p0", payload)]
        requests.retarget(0, "n2/p0")
        assert node.sent[2:] == [("n2/p0", payload)]
        requests.tick(300.0)
        assert len(node.sent) == 3
        requests.on_message(InvocationDone(request_id, INV.to_bytes(), Outcome(value=b"2")))
        assert (await task).outcome == Outcome(value=b"2")
        assert requests.in_flight == 0

    asyncio.run(scenario())


def test_the_admin_loop_still_serves_the_schema(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base) as (_, nodes):
            nodes[0].send("admin", GetSchema())
            assert await _recv(nodes[0]) == ("admin", SchemaUpdate(Schema()))

    _run(tmp_path, scenario)


def test_on_message_tells_answers_from_other_messages(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        node = Node(base, "admin")
        try:
            requests = PartitionRpc(node, 1)
            assert requests.on_message(Done(12345))  # an answer nobody waits for is still an answer
            assert not requests.on_message(SchemaAck(3))
            assert not requests.on_message(GetSchema())
        finally:
            node.close()

    _run(tmp_path, scenario)


def test_fail_pending(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base) as (requests, nodes):
            task = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))
            await _recv(nodes[0])
            requests.fail_pending("admin is shutting down")
            with pytest.raises(ConnectionError, match="admin is shutting down"):
                await task

    _run(tmp_path, scenario)


def test_admin_app_over_real_requests(tmp_path: Path) -> None:
    async def scenario(base: Path) -> None:
        async with _admin(base) as (requests, nodes):
            app = AdminApp(Schema(), CONFIG, AdminHooks(partitions=requests))

            async def partition() -> None:
                _, message = await _recv(nodes[0])
                assert isinstance(message, ManageInvocation) and message.op == "kill"
                nodes[0].send("admin", CommandResult(message.request_id, 200))

            answer = asyncio.create_task(partition())
            reply = await call(app, "PATCH", f"/v4/invocations/{INV}/kill")
            await answer
            assert (reply.status, reply.body) == (200, b"")

    _run(tmp_path, scenario)


def test_a_partition_with_too_many_requests_not_yet_durable_refuses_new_ones(tmp_path: Path) -> None:
    """Back-pressure instead of an unbounded queue: a request beyond the bound is refused at once, and
    each answered (or acknowledged, or abandoned) request makes room again."""

    async def scenario(base: Path) -> None:
        async with _admin(base, partitions=1, max_unacked_per_partition=2) as (requests, nodes):
            first = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))
            second = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))
            _, message = await _recv(nodes[0])
            await _recv(nodes[0])
            with pytest.raises(Overloaded):
                await requests.manage(INV.to_bytes(), "kill")
            nodes[0].send("admin", CommandResult(message.request_id, 200))
            await asyncio.wait_for(first, TIMEOUT_S)
            third = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))  # room for one again
            await _recv(nodes[0])
            second.cancel()  # a caller that goes away frees its place too
            await asyncio.gather(second, return_exceptions=True)
            fourth = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))
            await _recv(nodes[0])
            with pytest.raises(Overloaded):
                await requests.manage(INV.to_bytes(), "kill")
            third.cancel()
            fourth.cancel()
            await asyncio.gather(third, fourth, return_exceptions=True)

    _run(tmp_path, scenario)


def test_a_retargeted_request_goes_to_the_new_leader_at_once_and_keeps_its_backlog_place(tmp_path: Path) -> None:
    """Cluster mode: a partition's leader moved; what is pending is re-sent there at once, still counted."""

    async def scenario(base: Path) -> None:
        async with _admin(base, partitions=1, resend_after_s=30.0, max_unacked_per_partition=1) as (requests, nodes):
            leader = Node(base, "n2-p0")
            leader.bind()
            try:
                task = asyncio.create_task(requests.manage(INV.to_bytes(), "cancel"))
                _, first = await _recv(nodes[0])
                requests.route = lambda partition: "n2-p0"
                requests.retarget(0, "n2-p0")
                _, again = await _recv(leader)  # long before the 30 s re-send timer
                assert again == first and isinstance(first, ManageInvocation)
                with pytest.raises(Overloaded):
                    await requests.manage(INV.to_bytes(), "cancel")  # it still holds the new leader's place
                leader.send("admin", CommandResult(first.request_id, 202))
                assert (await asyncio.wait_for(task, TIMEOUT_S)).status == 202
                after = asyncio.create_task(requests.manage(INV.to_bytes(), "kill"))  # room again
                await _recv(leader)
                after.cancel()
                await asyncio.gather(after, return_exceptions=True)
            finally:
                leader.close()

    _run(tmp_path, scenario)
