"""Helpers for the slot scenarios: the product's slot unit, driven by hal0d's own slot core.

The SlotSupervisor runs here on the host, talking to the container's systemd over its bus
(hal0d's real SystemdClient) and probing the slots over loopback (the container shares the
host's network). Env files go into the container's /run through /proc/LEADER/root, since
the host's view of ROOT/run is hidden by the container's tmpfs.

`PlacedModels` stands in for the model store: these scenarios use models already placed in
the container (the pull pipeline has its own tests); it has no pull.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from hal0d.config.model import Config, GlobalConfig, ModelRef, SlotConfig
from hal0d.slots.adapters import Adapters, Timing
from hal0d.slots.probe import HttpProbe
from hal0d.slots.state import SlotState
from hal0d.slots.supervisor import SlotSupervisor
from hal0d.slots.view import SlotView
from hal0d.systemd.client import SystemdClient
from tests.system.conftest import free_port
from tests.system.harness.container import LLAMA_DIR, Container

SLOT_UNIT = "hal0-slot@.service"
# Shorter timers for tests, as an admin's drop-in would set them; the rest is the product's.
TEST_DROP_IN = """\
[Service]
WatchdogSec=3s
TimeoutAbortSec=2s
RestartSec=1s
"""

# Transitions a subscriber may see. Anything else is a bug in the lifecycle.
LEGAL = {
    SlotState.OFFLINE: {SlotState.PULLING, SlotState.STARTING, SlotState.ERROR},
    SlotState.PULLING: {SlotState.STARTING, SlotState.OFFLINE, SlotState.ERROR},
    SlotState.STARTING: {
        SlotState.WARMING,
        SlotState.READY,
        SlotState.ERROR,
        SlotState.OFFLINE,
        SlotState.UNLOADING,
    },
    SlotState.WARMING: {SlotState.READY, SlotState.STARTING, SlotState.UNLOADING, SlotState.ERROR},
    SlotState.READY: {
        SlotState.SERVING,
        SlotState.IDLE,
        SlotState.UNLOADING,
        SlotState.STARTING,
        SlotState.WARMING,
    },
    SlotState.SERVING: {SlotState.READY, SlotState.UNLOADING, SlotState.STARTING},
    SlotState.IDLE: {SlotState.SERVING, SlotState.READY, SlotState.UNLOADING, SlotState.STARTING},
    SlotState.UNLOADING: {SlotState.OFFLINE, SlotState.STARTING, SlotState.ERROR},
    SlotState.ERROR: {SlotState.STARTING, SlotState.OFFLINE, SlotState.PULLING},
}


def illegal_steps(states: list[SlotState]) -> list[tuple[SlotState, SlotState]]:
    return [(a, b) for a, b in itertools.pairwise(states) if b not in LEGAL[a]]


class PlacedModels:
    """A ModelSource over model files already in the container (see the module docstring)."""

    def __init__(self, models: dict[str, PurePosixPath]) -> None:
        self._models = models

    def has(self, sha256: str) -> bool:
        return sha256 in self._models

    def path_for(self, sha256: str) -> Path:
        return Path(self._models[sha256])

    def pull(self, request: Any) -> Any:
        raise AssertionError(f"these scenarios place their models; no pull of {request}")


class ContainerStore:
    """hal0d's real ModelStore, writing into the container's models dir from the host.

    The store works on host paths; the slot unit needs the container's, so ``path_for``
    translates. Everything else is the store's own behaviour."""

    def __init__(self, store: Any, inside: PurePosixPath) -> None:
        self._store = store
        self._inside = inside

    def has(self, sha256: str) -> bool:
        return bool(self._store.has(sha256))

    def path_for(self, sha256: str) -> Path:
        return Path(str(self._inside / self._store.path_for(sha256).name))

    def pull(self, request: Any) -> Any:
        return self._store.pull(request)


def install_slot_unit(container: Container) -> None:
    """The product's slot unit is installed by install-tree.sh; add the test drop-in."""
    container.drop_in(SLOT_UNIT, "50-test-timers", TEST_DROP_IN)
    container.run("install", "-d", "-m", "0755", "/run/hal0", "/run/hal0/slots")


def env_dir(container: Container) -> Path:
    return Path(f"/proc/{container.leader}/root/run/hal0/slots")


def slot_config(name: str, sha256: str, size: int, **fields: Any) -> SlotConfig:
    values: dict[str, Any] = {
        "port": free_port(),
        "threads": 1,
        "context": 4096,
        "parallel": 2,
        "idle_after": 600.0,
        "unload_after": None,
    }
    values.update(fields)
    return SlotConfig(
        name=name,
        file=Path(f"/etc/hal0/slots/{name}.toml"),
        model=ModelRef(catalog_name=f"{name}-model", sha256=sha256, size=size),
        **values,
    )


def config_for(slots: list[SlotConfig], state_dir: Path) -> Config:
    return Config(
        config_dir=Path("/etc/hal0"),
        global_=GlobalConfig(
            llama_server=Path(str(LLAMA_DIR / "llama-server")),
            state_dir=state_dir,
        ),
        slots={slot.name: slot for slot in slots},
    )


@dataclass
class Recorder:
    """Every view the supervisor publishes, per slot, with when it arrived."""

    views: dict[str, list[tuple[float, SlotView]]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, view: SlotView) -> None:
        self.views.setdefault(view.name, []).append((time.monotonic(), view))
        self.changed.set()

    def states(self, name: str) -> list[SlotState]:
        states: list[SlotState] = []
        for _, view in self.views.get(name, []):
            if not states or states[-1] is not view.state:
                states.append(view.state)
        return states

    async def wait(
        self,
        supervisor: SlotSupervisor,
        name: str,
        predicate: Callable[[SlotView], bool],
        within: float = 30,
    ) -> SlotView:
        deadline = time.monotonic() + within
        while True:
            view = supervisor.views()[name]
            if predicate(view):
                return view
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"slot {name}: condition not met in {within} s; last view {view}; "
                    f"states {self.states(name)}"
                )
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))

    async def wait_state(
        self, supervisor: SlotSupervisor, name: str, state: SlotState, within: float = 30
    ) -> SlotView:
        return await self.wait(supervisor, name, lambda v: v.state is state, within)


@contextlib.asynccontextmanager
async def supervised(
    container: Container,
    config: Config,
    models: dict[str, PurePosixPath],
    *,
    timing: Timing | None = None,
    store: Any = None,
) -> AsyncIterator[tuple[SlotSupervisor, Recorder]]:
    """A started SlotSupervisor (as hal0d would run it); stopped — never its units — after."""
    bus = await MessageBus(bus_address=container.bus_address, bus_type=BusType.SYSTEM).connect()
    probe = HttpProbe()
    recorder = Recorder()
    supervisor = SlotSupervisor(
        config,
        Adapters(systemd=SystemdClient(bus), prober=probe, store=store or PlacedModels(models)),
        env_dir=env_dir(container),
        timing=timing or Timing(tick=0.25, drain_sec=20, grace_sec=2),
    )
    supervisor.subscribe(recorder)
    try:
        await supervisor.start()
        yield supervisor, recorder
    finally:
        await supervisor.stop()
        await probe.close()
        bus.disconnect()


def stop_slot_units(container: Container, names: list[str]) -> None:
    for name in names:
        unit = f"hal0-slot@{name}.service"
        container.run("systemctl", "stop", unit, check=False, timeout=120)
        container.run("systemctl", "reset-failed", unit, check=False)
