"""Reloading the configuration while slots run: add, remove, change model, change port.

A running unit keeps the model and port it was started with until its next start (systemd
re-reads its env file on every automatic restart, so the file is not rewritten), the slot
says so in LastError, and Endpoint keeps naming the port the unit listens on."""

import pytest

from hal0d.errors import BusyError
from hal0d.slots.state import SlotState
from tests.support.faultserver import Fault
from tests.unit.slots.harness import World, hal0d

A, B = "hal0-slot@a.service", "hal0-slot@b.service"
NO_VERIFY = 'url = "{url}"\nverify = "no"\nallow_http = true\n'


def url_slot(world: World, name: str, model: str, extra: str = "") -> None:
    m = world.model(model)
    world.write_slot(name, f'url = "{m.url}"\nsha256 = "{m.sha256}"\nallow_http = true\n{extra}')


async def test_an_added_slot_appears_and_loads(world: World) -> None:
    url_slot(world, "a", "m1")
    async with hal0d(world) as daemon:
        url_slot(world, "b", "m2")
        await daemon.reload()
        assert daemon.view("b").state is SlotState.OFFLINE
        await daemon.supervisor.load("b")
        view = await daemon.until("b", lambda v: v.state is SlotState.READY)
        assert view.endpoint == "http://127.0.0.1:8101"


async def test_a_removed_slot_has_its_unit_stopped_and_its_port_is_held_until_then(
    world: World,
) -> None:
    """Defect: a slot file removed while its unit ran left the unit orphaned, and its port
    could be handed to a new slot while the old unit still listened on it."""
    url_slot(world, "a", "m1")
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("a")
        await daemon.until("a", lambda v: v.state is SlotState.READY)
        world.units.slow_stops.add(A)  # the runner drains requests in flight
        world.remove_slot("a")
        url_slot(world, "b", "m2", "port = 8100\n")  # the port unit a still listens on
        await daemon.reload()
        assert "a" not in daemon.supervisor.views()
        while ("StopUnit", A) not in world.units.jobs:
            world.units.read.clear()
            await world.units.read.wait()
        with pytest.raises(BusyError, match=r"port 8100 is still in use by hal0-slot@a\.service"):
            await daemon.supervisor.load("b")
        world.units.read.clear()
        world.units.finish_stop(A)
        await world.units.read.wait()  # hal0d has seen unit a stop
        await daemon.supervisor.load("b")
        view = await daemon.until("b", lambda v: v.state is SlotState.READY)
        assert view.endpoint == "http://127.0.0.1:8100"


async def test_a_changed_model_is_the_one_the_next_load_pulls_and_starts(world: World) -> None:
    """Defect: after a reload changed a verify = "no" slot's URL, Load started the old file
    while Model showed the new one."""
    old, new = world.model("old"), world.model("new")
    world.write_slot("a", NO_VERIFY.format(url=old.url))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("a")
        await daemon.until("a", lambda v: v.state is SlotState.READY)
        await daemon.supervisor.unload("a")
        await daemon.until("a", lambda v: v.state is SlotState.OFFLINE)
        world.write_slot("a", NO_VERIFY.format(url=new.url))
        await daemon.reload()
        assert daemon.supervisor.needs_pull("a")
        await daemon.supervisor.load("a")
        view = await daemon.until("a", lambda v: v.state is SlotState.READY)
        started = world.units.started_with[A]["LLAMA_ARG_MODEL"]
        assert started == str(daemon.store.path_for(new.sha256))
        assert (view.model, view.sha256) == (new.url, new.sha256)


async def test_a_slot_removed_and_added_again_starts_from_nothing(world: World) -> None:
    """Defect: a slot removed and added again inherited the old pull and its pending Load,
    which then started the unit nobody asked to start."""
    model = world.model("m1")
    world.server.script(Fault(pause_after=1024))
    world.write_slot("a", NO_VERIFY.format(url=model.url))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("a")
        await daemon.until("a", lambda v: v.state is SlotState.PULLING)
        world.remove_slot("a")
        await daemon.reload()
        world.write_slot("a", NO_VERIFY.format(url=model.url))
        await daemon.reload()
        assert daemon.view("a").state is SlotState.OFFLINE
        world.server.resume.set()
        await daemon.supervisor.pull("a")
        await daemon.until("a", lambda v: v.phase is not None and v.phase.is_final)
        assert world.units.jobs == []
        assert daemon.view("a").state is SlotState.OFFLINE


async def test_a_changed_port_applies_at_the_next_start_and_endpoint_follows_the_unit(
    world: World,
) -> None:
    """Defect: Endpoint moved to the new port at once while the unit kept listening on the old
    one; hal0d's own probe then went to the dead port."""
    url_slot(world, "a", "m1", "port = 8120\n")
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("a")
        await daemon.until("a", lambda v: v.state is SlotState.READY)
        url_slot(world, "a", "m1", "port = 8150\n")
        await daemon.reload()
        view = daemon.view("a")  # as a Reload call's caller sees it when the call returns
        assert "8120 -> 8150" in view.last_error
        assert view.endpoint == "http://127.0.0.1:8120"
        assert "Restart it to apply" in view.last_error
        assert world.env_file("a")["LLAMA_ARG_PORT"] == "8120"  # systemd may re-read it
        daemon.probe.asked.clear()
        await daemon.probe.asked.wait()  # the next probe goes where the unit listens
        assert daemon.probe.probed[-1] == 8120
        assert daemon.view("a").state is SlotState.READY
        await daemon.supervisor.restart("a")
        view = await daemon.until("a", lambda v: v.endpoint == "http://127.0.0.1:8150")
        assert (view.state, view.last_error) == (SlotState.READY, "")
        assert world.units.started_with[A]["LLAMA_ARG_PORT"] == "8150"


async def test_a_unit_whose_slot_file_went_while_hal0d_was_down_is_stopped(world: World) -> None:
    url_slot(world, "a", "m1")
    url_slot(world, "b", "m2")
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("a")
        await daemon.until("a", lambda v: v.state is SlotState.READY)
    world.remove_slot("a")
    async with hal0d(world) as daemon:
        assert set(daemon.supervisor.views()) == {"b"}
        while world.units.running(A):
            world.units.read.clear()
            await world.units.read.wait()
        assert world.units.jobs[-1] == ("StopUnit", A)


async def test_a_reload_gives_the_store_its_new_pull_settings(world: World) -> None:
    """Defect: the store kept the pull settings (ca_file, retries, speed limit) hal0d started
    with; a reload changed them for catalogs only."""
    url_slot(world, "a", "m1")
    async with hal0d(world) as daemon:
        world.write_global('retries = 0\nspeed_limit = "4K"\n')
        await daemon.manager().reload()
        settings = daemon.store.settings  # type: ignore[attr-defined]
        assert (settings.retries, settings.speed_limit) == (0, 4096)
