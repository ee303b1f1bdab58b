"""What the slot supervisor needs from the outside world, as protocols, and its knobs.

The daemon passes the real ones (hal0d.systemd.client.SystemdClient, hal0d.slots.probe.HttpProbe,
hal0d.store.store.ModelStore); the system tier passes the same classes pointed at a container.
"""

import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hal0d.runner.settings import DEFAULT_DRAIN_SEC, DEFAULT_GRACE_SEC
from hal0d.slots.memory import available_memory
from hal0d.slots.probe import ProbeResult
from hal0d.store.download import PullRequest
from hal0d.systemd.client import Job
from hal0d.systemd.units import UnitProperties

TICK = 1.0


class UnitDriver(Protocol):
    async def subscribe(self) -> None: ...
    async def watch_units(self, units: Collection[str]) -> None: ...
    def on_unit_changed(self, listener: Callable[[str], None]) -> Callable[[], None]: ...
    async def queue_job(self, verb: str, unit: str, mode: str = "replace") -> Job: ...
    async def reset_failed_unit(self, unit: str) -> None: ...
    async def list_units(self, patterns: list[str]) -> list[str]: ...
    async def properties(self, unit: str) -> UnitProperties | None: ...


class Prober(Protocol):
    async def probe(self, port: int, api_key: str | None = None) -> ProbeResult: ...


class PullHandleLike(Protocol):
    @property
    def progress(self) -> Any: ...  # hal0d.store.progress.Progress
    async def wait(self) -> Path: ...
    def cancel(self) -> None: ...


class ModelSource(Protocol):
    def has(self, sha256: str) -> bool: ...
    def path_for(self, sha256: str) -> Path: ...
    def pull(self, request: PullRequest) -> Any: ...  # PullHandle


@dataclass(frozen=True)
class Adapters:
    """The outside world, injected: systemd, the HTTP prober, the model store, clocks."""

    systemd: UnitDriver
    prober: Prober
    store: ModelSource
    clock: Callable[[], float] = time.monotonic  # CLOCK_MONOTONIC, as systemd's timestamps
    memory: Callable[[], int | None] = available_memory
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()  # awaited by stop()


@dataclass(frozen=True)
class Timing:
    tick: float = TICK
    drain_sec: float = DEFAULT_DRAIN_SEC
    grace_sec: float = DEFAULT_GRACE_SEC


DEFAULT_TIMING = Timing()
