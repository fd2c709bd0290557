"""The supervisor's on-demand child (the Kafka process): started when admin says it is needed, stopped when
not, a stop it asked for told from a crash; and admin's demand message over the pipe."""

from __future__ import annotations

import multiprocessing

import pytest

from restate.actors.on_demand import Demand, DemandSender, OnDemand, decode, encode


def test_not_started_until_needed_then_started_once() -> None:
    child = OnDemand()
    assert child.on_demand(False, started=False) == "none"
    assert child.on_demand(True, started=False) == "start"
    assert child.on_demand(True, started=True) == "none"


def test_stopped_once_when_no_longer_needed_and_that_exit_is_not_a_crash() -> None:
    child = OnDemand()
    child.on_demand(True, started=False)
    assert child.on_demand(False, started=True) == "stop"
    assert child.on_demand(False, started=True) == "none"  # SIGTERM already sent
    assert child.on_exit() == (False, "none")
    assert child.on_demand(False, started=False) == "none"


def test_a_crash_while_needed_is_restarted() -> None:
    child = OnDemand()
    child.on_demand(True, started=False)
    assert child.on_exit() == (True, "restart")


def test_needed_again_while_stopping_starts_it_again_once_it_exited() -> None:
    child = OnDemand()
    child.on_demand(True, started=False)
    assert child.on_demand(False, started=True) == "stop"
    assert child.on_demand(True, started=True) == "none"  # the old process still exits
    assert child.on_exit() == (False, "start")
    assert child.on_demand(False, started=True) == "stop"  # a later stop is a stop again


def test_a_crash_after_it_is_no_longer_needed_is_not_restarted() -> None:
    child = OnDemand()
    child.on_demand(True, started=False)
    child.wanted = False  # the demand arrived, the death was seen first
    assert child.on_exit() == (True, "none")


@pytest.mark.parametrize("kafka", [True, False])
def test_the_demand_message_round_trips(kafka: bool) -> None:
    assert decode(encode(Demand(kafka))) == Demand(kafka)


def test_admin_sends_only_changes_and_nothing_without_a_supervisor() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    sender = DemandSender(writer)
    for kafka in (False, False, True, True, False):
        sender.send(kafka)
    received = []
    while reader.poll():
        received.append(decode(reader.recv_bytes()).kafka)
    assert received == [False, True, False]
    DemandSender(None).send(True)  # admin run alone: nobody to tell
