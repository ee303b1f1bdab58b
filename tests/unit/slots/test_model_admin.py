"""Managing the store through the Manager as the bus calls it, over the real supervisor and
store: ResolveModel answers from the catalogs held (never fetching), DeleteModel refuses
while anything uses the model and names each use."""

import pytest

from hal0d.errors import BusyError, InvalidArgumentError, NoModelError
from hal0d.slots.state import SlotState
from tests.support.faultserver import Fault
from tests.unit.slots.harness import Allowed, World, hal0d

UNIT = "hal0-slot@chat.service"


async def test_resolve_model_answers_from_the_held_catalog_without_fetching(
    world: World,
) -> None:
    model = world.model("tiny")
    world.signed_catalog({"tiny": model}, remote=True)
    world.write_slot("chat", 'model = "tiny"\n')
    async with hal0d(world) as daemon:  # first run: the pull accepts the remote catalog
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.phase is not None and v.phase.is_final)
    world.server.script(Fault(pause_after=0))  # from now on the server never answers
    async with hal0d(world) as daemon:
        requests = len(world.server.state.log)
        manager = daemon.manager()
        for name in ("tiny", "main/tiny"):
            entry = manager.resolve_model(name)
            assert (entry.url, entry.sha256, entry.size) == (
                model.url,
                model.sha256,
                len(model.data),
            )
        assert len(world.server.state.log) == requests  # nothing was fetched for it
        world.server.resume.set()


async def test_resolve_model_names_the_catalogs_searched(world: World) -> None:
    world.signed_catalog({"tiny": world.model("tiny")})
    main, lab = world.root / "pub" / "main.toml", world.root / "pub" / "lab.toml"
    world.write_global(  # a second catalog, never accepted: its file does not exist
        f'\n[[catalogs]]\nname = "main"\nurl = "{main}"\n'
        f'[[catalogs]]\nname = "lab"\nurl = "{lab}"\n'
    )
    async with hal0d(world) as daemon:
        manager = daemon.manager()
        with pytest.raises(InvalidArgumentError) as refused:
            manager.resolve_model("qwen")
        assert "'qwen'" in str(refused.value)
        assert "catalogs searched: main" in str(refused.value)
        assert "never accepted): lab" in str(refused.value)
        with pytest.raises(InvalidArgumentError, match="is not a catalog entry name"):
            manager.resolve_model("../etc/passwd x")


async def test_delete_model_refuses_while_a_slot_is_configured_with_it(world: World) -> None:
    model = world.model("tiny")
    world.write_slot("chat", f'url = "{model.url}"\nsha256 = "{model.sha256}"\nallow_http = true\n')
    async with hal0d(world) as daemon:
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.phase is not None and v.phase.is_final)
        with pytest.raises(BusyError, match=r"slot chat \(configured\).*not deleted"):
            await daemon.manager().delete_model(model.sha256, Allowed())
        assert daemon.store.has(model.sha256)


async def test_delete_model_refuses_while_a_unit_runs_it_then_deletes(world: World) -> None:
    """The slot's file moved on to another model, but its unit still runs the old one: the
    old one is refused until the unit stops, then deleted; the new one stays configured."""
    old, new = world.model("old"), world.model("new")
    slot = 'url = "{m.url}"\nsha256 = "{m.sha256}"\nallow_http = true\n'
    world.write_slot("chat", slot.format(m=old))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        world.write_slot("chat", slot.format(m=new))
        await daemon.reload()
        manager = daemon.manager()
        with pytest.raises(BusyError, match=r"the running unit of slot chat"):
            await manager.delete_model(old.sha256, Allowed())
        await daemon.supervisor.unload("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.OFFLINE)
        await manager.delete_model(old.sha256, Allowed())
        assert not daemon.store.has(old.sha256)
        with pytest.raises(NoModelError, match="not in the store"):
            await manager.delete_model(old.sha256, Allowed())


async def test_delete_model_checks_the_digest_first(world: World) -> None:
    async with hal0d(world) as daemon:
        with pytest.raises(InvalidArgumentError, match="not a SHA-256 digest"):
            await daemon.manager().delete_model("../../etc/passwd", Allowed())
