from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.query.scenario import Scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    s = Scenario.build(tmp_path / "p0")
    yield s
    s.close()
