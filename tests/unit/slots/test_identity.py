"""Model identity survives hal0d restarts and reboots: Prune never deletes a model a slot
runs or is configured with, even when the slot file names only a catalog entry or a
``verify = "no"`` URL (no sha256 in the config), and Restart/Load need no new pull."""

import asyncio
import shutil

import pytest

from hal0d.errors import BusyError
from hal0d.slots.state import SlotState
from tests.support.faultserver import Fault
from tests.unit.slots.harness import World, hal0d

UNIT = "hal0-slot@chat.service"
NO_VERIFY = 'url = "{url}"\nverify = "no"\nallow_http = true\n'


def catalog_slot(world: World) -> str:
    model = world.model("tiny")
    world.signed_catalog({"tiny": model})
    world.write_slot("chat", 'model = "tiny"\n')  # as users write it: nothing else
    return model.sha256


def unverified_slot(world: World) -> str:
    model = world.model("raw")
    world.write_slot("chat", NO_VERIFY.format(url=model.url))
    return model.sha256


SLOT_KINDS = {"catalog": catalog_slot, "verify-no": unverified_slot}


async def load_and_leave_running(world: World) -> None:
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
    assert world.units.running(UNIT)  # hal0d stopping never stops a unit


@pytest.mark.parametrize("kind", SLOT_KINDS)
async def test_prune_after_a_hal0d_restart_keeps_the_running_model(world: World, kind: str) -> None:
    """Defect: after a restart the slot's Sha256 was empty and Prune deleted the running
    model; Restart then said "no model yet" and Load pulled it again."""
    sha256 = SLOT_KINDS[kind](world)
    await load_and_leave_running(world)
    downloads = len(world.server.state.log)
    async with hal0d(world) as daemon:
        view = daemon.view("chat")
        assert (view.state, view.sha256) == (SlotState.READY, sha256)
        await daemon.prune()
        assert daemon.store.has(sha256)
        assert not daemon.supervisor.needs_pull("chat")  # so Load asks for no model.manage
        await daemon.supervisor.restart("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
    assert len(world.server.state.log) == downloads  # nothing was downloaded again


@pytest.mark.parametrize("kind", SLOT_KINDS)
async def test_prune_after_a_reboot_keeps_the_configured_model(world: World, kind: str) -> None:
    """Defect: after a reboot (no unit running, /run empty) Prune deleted every model whose
    digest the slot file does not spell out."""
    sha256 = SLOT_KINDS[kind](world)
    await load_and_leave_running(world)
    world.units.units.clear()  # reboot: systemd knows no running slot unit …
    world.units.started_with.clear()
    shutil.rmtree(world.env_dir)  # … and /run is empty
    world.env_dir.mkdir()
    downloads = len(world.server.state.log)
    async with hal0d(world) as daemon:
        await daemon.prune()
        assert daemon.store.has(sha256)
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
    assert len(world.server.state.log) == downloads  # nothing was downloaded again


async def test_prune_refuses_while_a_configured_model_has_no_known_digest(world: World) -> None:
    unverified_slot(world)
    async with hal0d(world) as daemon:
        with pytest.raises(BusyError, match=r"slot\(s\) chat .*Pull them first"):
            await daemon.prune()
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.phase is not None and v.phase.is_final)
        await daemon.prune()


async def test_a_running_units_model_is_kept_after_its_slot_changed_model(world: World) -> None:
    """While a slot runs, its model changes in the config: the unit keeps serving the old one,
    its env file keeps naming it through hal0d restarts, and Prune keeps it."""
    old = catalog_slot(world)
    await load_and_leave_running(world)
    new = world.model("new")
    world.signed_catalog({"tiny": world.model("tiny"), "new": new}, serial=2)
    world.write_slot("chat", 'model = "new"\n')
    env_before = world.env_file("chat")
    for _ in range(2):
        async with hal0d(world) as daemon:
            assert daemon.view("chat").sha256 == old
            assert "Restart it to apply" in daemon.view("chat").last_error
            await daemon.prune()
            assert daemon.store.has(old)
    assert world.env_file("chat") == env_before


async def test_start_uses_the_held_catalog_and_refreshes_it_in_the_background(
    world: World,
) -> None:
    """A remote catalog is not fetched at start: the copy accepted last (kept with its
    signature in the state dir) gives the slot its digest while the server does not answer."""
    model = world.model("tiny")
    world.signed_catalog({"tiny": model}, remote=True)
    world.write_slot("chat", 'model = "tiny"\n')
    await load_and_leave_running(world)
    world.server.script(Fault(pause_after=0))  # the next request never gets its body
    async with hal0d(world) as daemon:  # started: nothing waited for the catalog server
        assert await asyncio.to_thread(world.server.paused.wait, 3), world.server.state.log
        assert daemon.view("chat").sha256 == model.sha256
        await daemon.prune()
        assert daemon.store.has(model.sha256)
        world.server.resume.set()
