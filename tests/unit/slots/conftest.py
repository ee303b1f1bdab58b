from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.unit.slots.harness import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator["World"]:
    # Imported here, not at the top: a conftest is imported outside pytest's handling of
    # import-time warnings, and dbus-fast 1.84 (Debian) warns when it imports gi.
    from tests.support.faultserver import FaultServer  # noqa: PLC0415
    from tests.support.units import FakeUnits  # noqa: PLC0415
    from tests.unit.slots.harness import World  # noqa: PLC0415

    (tmp_path / "run").mkdir()
    with FaultServer() as server:
        made = World(tmp_path, server, FakeUnits(tmp_path / "run"))
        made.write_global()
        yield made
