"""The slot supervisor as the daemon runs it, with systemd replaced by the in-memory
`FakeUnits` (tests/support/units.py): a real config directory read by `load_config`, the real
model store pulling from a real loopback HTTP server, real env files and identity files.
No root, no bus, no systemd."""

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from hal0d.config import Config, load_config
from hal0d.manager import Lifecycle, Manager
from hal0d.slots.adapters import Adapters, ModelSource, Timing
from hal0d.slots.supervisor import SlotSupervisor
from hal0d.slots.view import SlotView
from hal0d.store.prune import PruneReport
from hal0d.store.settings import StoreSettings
from hal0d.store.store import ModelStore
from tests.support.faultserver import FaultServer
from tests.support.units import FakeProbe, FakeUnits
from tests.unit.store.test_catalog import Keys, make_keys, sign


@dataclass(frozen=True)
class Model:
    data: bytes
    sha256: str
    url: str


@dataclass
class World:
    """What outlives one hal0d: files, the fake systemd, the model server."""

    root: Path
    server: FaultServer
    units: FakeUnits

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def env_dir(self) -> Path:
        return self.root / "run"

    def model(self, name: str, size: int = 64 << 10) -> Model:
        data = random.Random(name).randbytes(size)  # noqa: S311
        self.server.serve(f"/{name}.gguf", data)
        return Model(data, hashlib.sha256(data).hexdigest(), self.server.url(f"/{name}.gguf"))

    def write_global(self, extra: str = "") -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "hal0.toml").write_text(
            f'models_dir = "{self.state / "models"}"\nstate_dir = "{self.state}"\n'
            f'keys_dir = "{self.root / "keys"}"\nllama_server = "/bin/true"\n'
            'port_range = [8100, 8199]\nidle_after = "1h"\n' + extra
        )

    def write_slot(self, name: str, text: str) -> None:
        (self.config_dir / "slots").mkdir(parents=True, exist_ok=True)
        (self.config_dir / "slots" / f"{name}.toml").write_text(text)

    def remove_slot(self, name: str) -> None:
        (self.config_dir / "slots" / f"{name}.toml").unlink()

    def signed_catalog(
        self, entries: dict[str, Model], serial: int = 1, *, remote: bool = False
    ) -> None:
        """A catalog signed by a key in keys_dir, listed in hal0.toml: a local file, or
        (``remote``) served with its signature by the world's HTTP server."""
        keys_dir = self.root / "keys"
        keys = self._keys(keys_dir)
        text = f"serial = {serial}\n" + "".join(
            f'\n[models.{n}]\nurl = "{m.url}"\nsha256 = "{m.sha256}"\nsize = {len(m.data)}\n'
            for n, m in entries.items()
        )
        catalog = self.root / "pub" / "main.toml"
        catalog.parent.mkdir(exist_ok=True)
        catalog.write_text(text)
        sign(keys, catalog)
        url = str(catalog)
        if remote:
            self.server.serve("/main.toml", catalog.read_bytes())
            signature = catalog.with_name(catalog.name + ".minisig")
            self.server.serve("/main.toml.minisig", signature.read_bytes())
            url = self.server.url("/main.toml")
        self.write_global(f'\n[[catalogs]]\nname = "main"\nurl = "{url}"\nallow_http = true\n')

    def _keys(self, keys_dir: Path) -> Keys:
        keys = Keys(self.root / "signer" / "minisign.pub", self.root / "signer" / "minisign.key")
        if not keys.public.exists():
            keys = make_keys(self.root / "signer")
            keys_dir.mkdir(exist_ok=True)
            (keys_dir / "publisher.pub").write_bytes(keys.public.read_bytes())
        return keys

    def config(self) -> Config:
        config, problems = load_config(self.config_dir)
        assert config is not None, problems
        return config

    def env_file(self, name: str) -> dict[str, str]:
        path = self.env_dir / f"{name}.env"
        lines = path.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if not line.startswith("#"))


class Allowed:
    async def require(self, action: str) -> None:
        """Every action is allowed."""


class Hal0d:
    """One run of hal0d's slot side: a supervisor over the world's files and fake systemd."""

    def __init__(
        self, world: World, store: ModelSource, supervisor: SlotSupervisor, probe: FakeProbe
    ) -> None:
        self.world = world
        self.probe = probe
        self.store = store
        self.supervisor = supervisor
        self._changed = asyncio.Event()
        supervisor.subscribe(lambda view: self._changed.set())

    def view(self, name: str) -> SlotView:
        return self.supervisor.views()[name]

    async def until(self, name: str, accept: Callable[[SlotView], bool]) -> SlotView:
        """Wait for a published view of ``name`` that ``accept``s (the test's timeout bounds it)."""
        while not accept(view := self.view(name)):
            self._changed.clear()
            await self._changed.wait()
        return view

    def manager(self) -> Manager:
        """The Manager over this supervisor and store, running, as the bus objects call it."""
        manager = Manager(self.supervisor._config, self.supervisor, self.store)  # type: ignore[arg-type]
        manager.set_lifecycle(Lifecycle.RUNNING)
        return manager

    async def prune(self) -> PruneReport:
        """Prune as a caller on the bus asks for it (the Manager, authorized)."""
        return await self.manager().prune(Allowed())

    async def reload(self) -> None:
        """As the Manager reloads: load the files, apply them (the rest follows in the
        background)."""
        config, problems = load_config(self.world.config_dir)
        assert config is not None, problems
        self.supervisor.apply_config(config)


@contextlib.asynccontextmanager
async def hal0d(
    world: World, wrap: Callable[[ModelStore], ModelSource] | None = None
) -> AsyncIterator[Hal0d]:
    """A started supervisor (as the daemon starts it); stopped — never its units — after."""
    settings = StoreSettings(models_dir=world.state / "models", state_dir=world.state)
    store = ModelStore(settings)
    await store.open()
    source = wrap(store) if wrap else store
    probe = FakeProbe(world.units)
    supervisor = SlotSupervisor(
        world.config(),
        Adapters(systemd=world.units, prober=probe, store=source),
        env_dir=world.env_dir,
        timing=Timing(tick=0.05),
    )
    try:
        await supervisor.start()
        yield Hal0d(world, source, supervisor, probe)
    finally:
        await supervisor.stop()
        await store.close()
