"""Managing the store through the Manager as the bus calls it, over the real supervisor and
store: ResolveModel answers from the catalogs held (never fetching)."""

import pytest

from hal0d.errors import InvalidArgumentError
from tests.support.faultserver import Fault
from tests.unit.slots.harness import World, hal0d

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
