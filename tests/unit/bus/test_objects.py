"""The bus objects: getters serve cached values (dbus-fast calls them outside the error
boundary, so none may compute anything that can raise), and LoadWithOptions' options."""

from types import SimpleNamespace
from typing import Any, cast

import pytest
from dbus_fast import Variant

from hal0d.bus.objects import ManagerObject, SlotObject, load_force
from hal0d.errors import InvalidArgumentError
from hal0d.manager import Manager
from hal0d.polkit import PolkitAuthority
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView
from hal0d.verify_run import VerifyPhase, VerifyProgress

POLKIT = cast(PolkitAuthority, None)  # not asked: nothing is called


class BrokenManager:
    """A manager whose status line fails to compute once the object exists."""

    def __init__(self) -> None:
        self.broken = False
        self.progress = SimpleNamespace(phase="", bytes_done=0, bytes_total=0)
        self.verify_progress = VerifyProgress(VerifyPhase.DONE, 10, 10, ("a" * 64,))

    @property
    def status(self) -> str:
        if self.broken:
            raise RuntimeError("status could not be computed")
        return "1 offline"


async def test_manager_getters_serve_the_cached_values() -> None:
    manager = BrokenManager()
    exported: Any = ManagerObject(cast(Manager, manager), POLKIT)
    manager.broken = True
    assert exported.status == "1 offline"
    assert (exported.phase, exported.bytes_done, exported.bytes_total) == ("", 0, 0)
    assert (exported.verify_phase, exported.verify_bytes_done) == ("done", 10)
    assert (exported.verify_bytes_total, exported.verify_damaged) == (10, ["a" * 64])


async def test_slot_getters_serve_the_view_as_published() -> None:
    view = SlotView(
        name="chat",
        state=SlotState.ERROR,
        unit="hal0-slot@chat.service",
        last_error="model file failed verification",
        last_error_name="org.hal0.Error.Integrity",
    )
    exported: Any = SlotObject(cast(Manager, None), POLKIT, view)
    assert exported.state == "error"
    assert exported.last_error == "model file failed verification"
    assert exported.last_error_name == "org.hal0.Error.Integrity"


@pytest.mark.parametrize(
    ("options", "force"),
    [({}, False), ({"force": Variant("b", True)}, True), ({"force": Variant("b", False)}, False)],
)
def test_load_options(options: dict[str, Variant], force: bool) -> None:
    assert load_force(options) is force


@pytest.mark.parametrize(
    "options",
    [{"forse": Variant("b", True)}, {"force": Variant("s", "true")}, {"force": Variant("u", 1)}],
)
def test_load_options_refused(options: dict[str, Variant]) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        load_force(options)
    assert caught.value.dbus_name == "org.hal0.Error.InvalidArgument"
