"""The slot supervisor's commands against the in-memory unit driver: load (pulling first),
unload, restart, cancel of a pull and of a pending load, autostart, catalog slots."""

from hal0d.slots.state import SlotState
from hal0d.store.progress import PullPhase
from tests.support.faultserver import Fault
from tests.unit.slots.harness import World, hal0d

UNIT = "hal0-slot@chat.service"


def url_slot(url: str, sha256: str, extra: str = "") -> str:
    return f'url = "{url}"\nsha256 = "{sha256}"\nallow_http = true\n{extra}'


async def test_load_pulls_first_then_starts_the_unit_on_the_pulled_file(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        assert daemon.supervisor.needs_pull("chat")
        await daemon.supervisor.load("chat")
        view = await daemon.until("chat", lambda v: v.state is SlotState.READY)
        path = daemon.store.path_for(model.sha256)
        assert path.read_bytes() == model.data
        env = world.units.started_with[UNIT]
        assert (env["LLAMA_ARG_MODEL"], env["LLAMA_ARG_PORT"]) == (str(path), "8100")
        assert (view.endpoint, view.sha256, view.phase) == (
            "http://127.0.0.1:8100",
            model.sha256,
            PullPhase.DONE,
        )
        assert world.units.jobs == [("StartUnit", UNIT)]
        assert not daemon.supervisor.needs_pull("chat")


async def test_unload_stops_and_restart_starts_again(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        await daemon.supervisor.unload("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.OFFLINE)
        await daemon.supervisor.restart("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        assert [verb for verb, _ in world.units.jobs] == ["StartUnit", "StopUnit", "RestartUnit"]


async def test_cancel_ends_the_pull_and_the_load_waiting_for_it(world: World) -> None:
    model = world.model("a")
    world.server.script(Fault(pause_after=1024))
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.PULLING)
        await daemon.supervisor.cancel("chat")
        world.server.resume.set()
        view = await daemon.until("chat", lambda v: v.phase is PullPhase.CANCELLED)
        assert view.state is SlotState.OFFLINE
        # A later pull that succeeds does not start the unit: the Load was cancelled with it.
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.phase is PullPhase.DONE)
        assert world.units.jobs == []
        assert daemon.view("chat").state is SlotState.OFFLINE


async def test_autostart_slots_are_loaded_when_hal0d_starts(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256, "autostart = true\n"))
    world.write_slot("other", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        assert daemon.view("other").state is SlotState.OFFLINE
        assert world.units.jobs == [("StartUnit", UNIT)]


async def test_catalog_slot_resolves_its_entry_and_runs_the_listed_file(world: World) -> None:
    model = world.model("tiny")
    world.signed_catalog({"tiny": model})
    world.write_slot("chat", 'model = "tiny"\n')
    async with hal0d(world) as daemon:
        assert daemon.view("chat").sha256 == model.sha256  # from the catalog, before any pull
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        env = world.units.started_with[UNIT]
        assert env["LLAMA_ARG_MODEL"] == str(daemon.store.path_for(model.sha256))


async def test_a_crash_is_followed_back_to_ready_with_the_same_model(world: World) -> None:
    model = world.model("a")
    world.write_slot("chat", url_slot(model.url, model.sha256))
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        world.units.crash(UNIT)
        view = await daemon.until("chat", lambda v: v.n_restarts == 1)
        assert (view.state, view.sha256) == (SlotState.READY, model.sha256)
