from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faultserver import FaultServer
from tests.support.units import FakeUnits
from tests.unit.slots.harness import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "run").mkdir()
    with FaultServer() as server:
        made = World(tmp_path, server, FakeUnits(tmp_path / "run"))
        made.write_global()
        yield made
