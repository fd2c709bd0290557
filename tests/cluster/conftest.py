"""Fixtures of the cluster tests: a real 3-member etcd cluster on loopback (tests/support/etcd.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.etcd import EtcdCluster

T = TypeVar("T")
_names = itertools.count()


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One cluster for the session: the tests isolate themselves by cluster name (key prefix)."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_etcd_cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    """A cluster of the test's own, for tests that kill members."""
    cluster = EtcdCluster(tmp_path / "etcd")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_name() -> str:
    return f"test{next(_names)}"


def run(main: Callable[[], Awaitable[T]], timeout_s: float = 60.0) -> T:
    """Runs an async test body with a bound: a hang fails the test instead of the whole session."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout_s)

    return asyncio.run(bounded())
