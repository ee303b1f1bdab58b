"""Wake (the router's call): starts a configured slot whose model is in the store, and does
nothing else — it never pulls, never stops, and starts nothing twice."""

import pytest

from hal0d.errors import BusyError, NoModelError
from hal0d.slots.state import SlotState
from tests.support.faultserver import Fault
from tests.unit.slots.harness import World, hal0d
from tests.unit.slots.test_supervisor import url_slot

UNIT = "hal0-slot@chat.service"


async def test_wake_starts_a_slot_whose_model_is_in_the_store_once(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.sha256 == model.sha256 and v.phase is not None
                           and v.phase.is_final)  # fmt: skip
        await daemon.supervisor.wake("chat")
        await daemon.supervisor.wake("chat")  # joins the start under way
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        await daemon.supervisor.wake("chat")  # up already: nothing to do
        assert world.units.jobs == [("StartUnit", UNIT)]


async def test_wake_never_pulls_a_model_that_is_not_in_the_store(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        with pytest.raises(NoModelError, match="hal0ctl pull chat"):
            await daemon.supervisor.wake("chat")
        assert world.units.jobs == []
        assert daemon.supervisor.views()["chat"].phase is None  # no pull was started
        assert world.server.log == []


async def test_wake_refuses_while_the_model_is_pulled(world: World) -> None:
    model = world.model("a")
    world.server.script(Fault(pause_after=1024))
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.PULLING)
        with pytest.raises(BusyError, match="pulling"):
            await daemon.supervisor.wake("chat")
        await daemon.supervisor.cancel("chat")
        world.server.resume.set()
        assert world.units.jobs == []
