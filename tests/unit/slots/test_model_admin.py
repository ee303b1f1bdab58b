"""Managing the store through the Manager as the bus calls it, over the real supervisor and
store: ResolveModel answers from the catalogs held (never fetching), DeleteModel refuses
while anything uses the model and names each use, Verify finds damage and every slot using
the damaged model says so until a pull restores it."""

import asyncio
import time
from collections.abc import Callable

import pytest

from hal0d.errors import BusyError, InvalidArgumentError, NoModelError
from hal0d.manager import Manager
from hal0d.slots.state import SlotState
from hal0d.store.progress import PullPhase
from hal0d.store.scrub import Damage
from hal0d.store.verified import StoredModel
from hal0d.verify_run import VerifyPhase, VerifyProgress, VerifyRun
from tests.support.faultserver import Fault
from tests.unit.slots.harness import Allowed, Model, World, hal0d

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


def http_slot(model: Model) -> str:
    return f'url = "{model.url}"\nsha256 = "{model.sha256}"\nallow_http = true\n'


async def verified(manager: Manager, sha256: str = "") -> VerifyProgress:
    """Start a verify as the bus does and wait for its end (the test's timeout bounds it)."""
    ended = asyncio.Event()
    unsubscribe = manager.subscribe(
        lambda: ended.set() if manager.verify_progress.phase is not VerifyPhase.VERIFY else None
    )
    try:
        await manager.verify(sha256, Allowed())
        await ended.wait()
    finally:
        unsubscribe()
    return manager.verify_progress


async def test_verify_finds_a_damaged_model_and_every_slot_using_it_says_so(
    world: World,
) -> None:
    """Done-when 3 of the issue at the core: the file is corrupted behind hal0d's back; a
    verify reports it, moves it to quarantine, and every slot configured with it is in error
    with an Integrity LastError; a Pull restores it and the slots are well again."""
    shared, other = world.model("shared"), world.model("other")
    for name, model in (("chat", shared), ("code", shared), ("embed", other)):
        world.write_slot(name, http_slot(model))
    async with hal0d(world) as daemon:
        for name in ("chat", "embed"):
            await daemon.supervisor.pull(name)
            await daemon.until(name, lambda v: v.phase is PullPhase.DONE)
        manager = daemon.manager()
        stored = world.state / "models" / f"{shared.sha256}.gguf"
        with stored.open("r+b") as file:  # behind hal0d's back
            file.write(b"\0" * 16)
        progress = await verified(manager)
        assert progress.phase is VerifyPhase.DONE
        assert progress.damaged == (shared.sha256,)
        assert progress.bytes_done == progress.bytes_total == 2 * len(shared.data)
        assert not stored.exists()
        (sidecar,) = (world.state / "models" / "quarantine").glob("*.json")
        assert shared.sha256 in sidecar.read_text()
        for name in ("chat", "code"):
            view = daemon.view(name)
            assert view.state is SlotState.ERROR
            assert view.last_error_name == "org.hal0.Error.Integrity"
            assert f"the stored model {shared.sha256} is damaged" in view.last_error
            assert f"hal0ctl pull {name}" in view.last_error
        assert daemon.view("embed").last_error == ""
        await daemon.supervisor.pull("chat")
        for name in ("chat", "code"):
            view = await daemon.until(name, lambda v: v.state is SlotState.OFFLINE)
            assert (view.last_error, view.last_error_name) == ("", "")
        assert stored.read_bytes() == shared.data


async def test_verify_records_when_each_model_was_last_found_intact(world: World) -> None:
    model = world.model("tiny")
    world.write_slot("chat", http_slot(model))
    async with hal0d(world) as daemon:
        manager = daemon.manager()
        await daemon.supervisor.pull("chat")
        await daemon.until("chat", lambda v: v.phase is PullPhase.DONE)
        ((listed, slots),) = await manager.models()
        assert (listed.sha256, listed.size, slots) == (model.sha256, len(model.data), ["chat"])
        record = world.state / "models" / ".verified" / model.sha256
        await asyncio.to_thread(record.write_text, "1000\n")  # verified long ago
        progress = await verified(manager, model.sha256.upper())
        assert (progress.phase, progress.damaged) == (VerifyPhase.DONE, ())
        ((listed, _),) = await manager.models()
        assert abs(listed.last_verified - time.time()) < 60


async def test_verify_refusals(world: World) -> None:
    async with hal0d(world) as daemon:
        manager = daemon.manager()
        with pytest.raises(InvalidArgumentError):
            await manager.verify("zz", Allowed())
        with pytest.raises(NoModelError, match="not in the store; nothing to verify"):
            await manager.verify("a" * 64, Allowed())
        assert (await verified(manager)).phase is VerifyPhase.DONE  # an empty store: done


class HeldStore:
    """Stands in for the store's verify so a run can be held open: the real one re-hashes a
    small file faster than a test can call again."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def verify(
        self,
        digests: list[str],
        progress: Callable[[int], None],
        damaged: Callable[[Damage], None],
    ) -> None:
        progress(5)
        await self.release.wait()
        progress(5)


async def test_one_verify_at_a_time() -> None:
    changes: list[VerifyProgress] = []
    ended = asyncio.Event()

    def changed() -> None:
        changes.append(run.progress)
        if run.progress.phase is VerifyPhase.DONE:
            ended.set()

    run = VerifyRun(lambda damage: None, changed)
    store = HeldStore()
    model = StoredModel("a" * 64, 10, 0)
    run.start(store, [model])
    await asyncio.sleep(0)
    with pytest.raises(BusyError, match="a verify is running"):
        run.start(store, [model])
    store.release.set()
    await ended.wait()
    assert [(c.phase, c.bytes_done, c.bytes_total) for c in changes] == [
        (VerifyPhase.VERIFY, 0, 10),
        (VerifyPhase.VERIFY, 5, 10),
        (VerifyPhase.VERIFY, 10, 10),
        (VerifyPhase.DONE, 10, 10),
    ]
    run.start(store, [model])  # the next one may start
