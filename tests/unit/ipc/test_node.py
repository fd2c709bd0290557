"""The message bus node: receiving through the event loop's watch of ZeroMQ's fd (no zmq.asyncio futures)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from restate import wire
from restate.ipc import node as node_module
from restate.ipc.node import Node

DEADLINE_S = 10.0


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    sender, receiver = Node(tmp_path, "a"), Node(tmp_path, "b")
    receiver.bind()
    yield sender, receiver
    sender.close()
    receiver.close()


def test_a_burst_larger_than_one_drain_arrives_whole_and_in_order(nodes: tuple[Node, Node]) -> None:
    sender, receiver = nodes
    count = 3 * node_module.DRAIN_LIMIT + 5  # one transport message each: several readiness callbacks' worth

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(receiver.recv())  # waiting before anything was sent
        await asyncio.sleep(0)
        for version in range(count):
            sender.send("b", wire.SchemaAck(version))
            sender.flush()
        got = [await asyncio.wait_for(first, DEADLINE_S)]
        while len(got) < count:
            got.append(await asyncio.wait_for(receiver.recv(), DEADLINE_S))
        assert {name for name, _ in got} == {"a"}
        return [message.version for _, message in got if isinstance(message, wire.SchemaAck)]

    assert asyncio.run(scenario()) == list(range(count))


def test_messages_sent_while_nobody_waits_are_received_later(nodes: tuple[Node, Node]) -> None:
    sender, receiver = nodes

    async def scenario() -> tuple[object, list[wire.Message]]:
        assert receiver.recv_nowait() is None
        await asyncio.wait_for(_idle_recv_started(receiver), DEADLINE_S)  # the fd is watched from now on
        sender.send("b", wire.PeerReady("p1"))
        sender.send("b", wire.PeerReady("p2"))  # the same loop pass: one transport message
        sender.flush()
        first = await asyncio.wait_for(receiver.recv(), DEADLINE_S)
        rest = []
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while (item := receiver.recv_nowait()) is None or not rest:
            if item is not None:
                rest.append(item[1])
                break
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.001)
        return first, rest

    first, rest = asyncio.run(scenario())
    assert first == ("a", wire.PeerReady("p1")) and rest == [wire.PeerReady("p2")]


async def _idle_recv_started(receiver: Node) -> None:
    """Starts a recv() with nothing to receive, then cancels it: the node keeps watching its fd."""
    waiting = asyncio.ensure_future(receiver.recv())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


def test_a_malformed_message_is_dropped_and_the_next_one_arrives(nodes: tuple[Node, Node]) -> None:
    sender, receiver = nodes

    async def scenario() -> tuple[str, wire.Message]:
        sender.send_raw("b", b"\xc1 not msgpack")
        sender.flush()
        sender.send("b", wire.SchemaAck(7))
        sender.flush()
        return await asyncio.wait_for(receiver.recv(), DEADLINE_S)

    assert asyncio.run(scenario()) == ("a", wire.SchemaAck(7))


def test_closing_a_watched_node_stops_the_watch(tmp_path: Path) -> None:
    async def scenario() -> None:
        receiver = Node(tmp_path, "b")
        receiver.bind()
        await _idle_recv_started(receiver)
        loop = asyncio.get_running_loop()
        fd = receiver._router.fileno()
        receiver.close()
        assert not loop.remove_reader(fd)  # nothing left registered on the closed socket's fd

    asyncio.run(scenario())


def test_a_node_received_on_by_a_second_event_loop_still_gets_its_messages(nodes: tuple[Node, Node]) -> None:
    """e.g. one asyncio.run after another: the fd is watched again by the loop that waits now."""
    sender, receiver = nodes

    async def one(version: int) -> tuple[str, wire.Message]:
        await _idle_recv_started(receiver)  # watched by this loop, nothing left to read
        sender.send("b", wire.SchemaAck(version))
        sender.flush()
        return await asyncio.wait_for(receiver.recv(), DEADLINE_S)

    async def late_then_new() -> list[tuple[str, wire.Message]]:
        got = [await asyncio.wait_for(receiver.recv(), DEADLINE_S)]  # sent while no loop watched
        got.append(await one(3))  # only this loop's watch can wake the receiver now
        return got

    assert asyncio.run(one(1)) == ("a", wire.SchemaAck(1))
    sender.send("b", wire.SchemaAck(2))
    sender.flush()
    assert asyncio.run(late_then_new()) == [("a", wire.SchemaAck(2)), ("a", wire.SchemaAck(3))]
