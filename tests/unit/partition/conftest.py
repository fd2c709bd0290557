from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.partition.harness import Partition


@pytest.fixture
def partition(tmp_path: Path) -> Iterator[Partition]:
    p = Partition(tmp_path / "p0")
    yield p
    p.close()


@pytest.fixture
def partition_v7(tmp_path: Path) -> Iterator[Partition]:
    p = Partition(tmp_path / "p0v7", protocol_v7=True)
    yield p
    p.close()
