"""The Manager: what hal0d does, with no D-Bus in it.

It owns the current configuration, the lifecycle (starting, running, reloading, stopping),
the status line (the same text for sd_notify STATUS= and the bus's `Status`), the aggregate
pull progress, and the authorization rule of each operation. The bus objects are a thin
adapter over it; callers pass an `Authorizer` bound to whoever asked.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hal0d.config import Config, Severity, load_config
from hal0d.config.access import EXECUTE, Need, problem
from hal0d.config.llama_server import HINT as LLAMA_SERVER_HINT
from hal0d.config.problems import log_problems
from hal0d.contract import (
    ACTION_CONFIG_RELOAD,
    ACTION_MODEL_MANAGE,
    ACTION_SLOT_MANAGE,
    ACTION_SLOT_WAKE,
)
from hal0d.errors import BusyError, ConfigError, Hal0Error, NoModelError, NoSuchSlotError
from hal0d.names import validate_slot_name
from hal0d.slots.models import ModelUse, describe
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotBackend, SlotView
from hal0d.store.catalog import CatalogEntry
from hal0d.store.layout import check_sha256
from hal0d.store.progress import PullPhase
from hal0d.store.prune import PruneReport
from hal0d.store.scrub import Damage
from hal0d.store.settings import StoreSettings, settings_from_config
from hal0d.store.verified import StoredModel
from hal0d.verify_run import VerifyingStore, VerifyProgress, VerifyRun

log = logging.getLogger(__name__)

# The order a pull goes through; the aggregate phase of several is the least advanced one.
_PHASE_ORDER = [
    PullPhase.CHECKING_LOCAL,
    PullPhase.DOWNLOAD,
    PullPhase.VERIFY,
    PullPhase.QUARANTINE,
]
_READY_STATES = (SlotState.READY, SlotState.SERVING, SlotState.IDLE)
LISTING = "hal0ctl model list shows what is stored"


class Lifecycle(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RELOADING = "reloading"
    STOPPING = "stopping"


class Authorizer(Protocol):
    async def require(self, action: str) -> None:
        """Return if the caller may do ``action``; raise NotAuthorizedError otherwise."""
        ...


class Store(VerifyingStore, Protocol):
    def has(self, sha256: str) -> bool: ...
    async def prune(self, referenced: Mapping[str, str]) -> PruneReport: ...
    async def delete(self, sha256: str) -> int: ...
    async def models(self) -> list[StoredModel]: ...
    def apply(self, settings: StoreSettings) -> None: ...


class ConfigurableBackend(SlotBackend, Protocol):
    def apply_config(self, config: Config) -> object:
        """Take ``config`` whole, or raise ConfigError having changed nothing."""
        ...

    def models_in_use(self) -> dict[str, str]:
        """Every model digest Prune must keep, with why; BusyError if one cannot be known."""
        ...

    def model_uses(self) -> dict[str, list[ModelUse]]:
        """Which slots use which model (configured, resolved, pulled or running), by digest."""
        ...

    def resolve_model(self, model: str) -> CatalogEntry:
        """The catalog entry ``model`` names in the catalogs held; InvalidArgumentError if
        none lists it. Never fetches."""
        ...

    def mark_damaged(self, damage: Damage) -> None:
        """A verify found this model damaged (it is in quarantine now): every slot that is
        configured with it or runs it says so in LastError until a pull restores it."""
        ...


@dataclass(frozen=True)
class Aggregate:
    phase: str = ""  # "" until a pull ran
    bytes_done: int = 0
    bytes_total: int = 0


def aggregate(views: Mapping[str, SlotView], last_final: Aggregate) -> Aggregate:
    """Sum of the running pulls; with none running, the last finished one."""
    running = [v for v in views.values() if v.phase is not None and not v.phase.is_final]
    if not running:
        return last_final
    phase = min((v.phase for v in running if v.phase), key=_PHASE_ORDER.index)
    return Aggregate(
        phase=str(phase),
        bytes_done=sum(v.bytes_done for v in running),
        bytes_total=0
        if any(v.bytes_total == 0 for v in running)
        else sum(v.bytes_total for v in running),
    )


def status_text(
    lifecycle: Lifecycle,
    views: Mapping[str, SlotView],
    progress: Aggregate,
    llama_server_problem: str | None,
    *,
    units_available: bool = True,
) -> str:
    """One line; priority stopping > loading > degraded > ok."""
    if lifecycle is Lifecycle.STOPPING:
        return "stopping"
    if lifecycle is Lifecycle.STARTING:
        return "starting: recovering slot state"
    if lifecycle is Lifecycle.RELOADING:
        return "reloading configuration"
    failed = sorted(name for name, view in views.items() if view.state is SlotState.ERROR)
    problems = []
    if failed:
        problems.append(f"slot{'s' if len(failed) > 1 else ''} in error: {', '.join(failed)}")
    if not units_available:
        problems.append("systemd is not reachable, slots cannot start")
    if llama_server_problem:
        problems.append(llama_server_problem)
    summary = _summary(views, progress)
    if problems:
        return f"degraded: {'; '.join(problems)} ({summary})"
    return summary


def _summary(views: Mapping[str, SlotView], progress: Aggregate) -> str:
    if not views:
        return "no slots configured"
    states = [view.state for view in views.values()]
    parts = []
    ready = sum(1 for state in states if state in _READY_STATES)
    if ready:
        parts.append(f"{ready} slot{'s' if ready > 1 else ''} ready")
    for state in (SlotState.PULLING, SlotState.STARTING, SlotState.WARMING, SlotState.UNLOADING):
        count = states.count(state)
        if count:
            text = f"{count} {state}"
            if state is SlotState.PULLING and progress.bytes_total:
                text += f" {progress.bytes_done * 100 // progress.bytes_total} %"
            parts.append(text)
    offline = states.count(SlotState.OFFLINE)
    if offline:
        parts.append(f"{offline} offline")
    errors = states.count(SlotState.ERROR)
    if errors:
        parts.append(f"{errors} in error")
    return ", ".join(parts)


Listener = Callable[[], None]


class Manager:
    def __init__(
        self,
        config: Config,
        backend: ConfigurableBackend,
        store: Store | None,
        *,
        units_available: bool = True,
    ) -> None:
        self._config = config
        self._units_available = units_available
        self._backend = backend
        self._store = store
        self._lifecycle = Lifecycle.STARTING
        self._last_final = Aggregate()
        self._listeners: list[Listener] = []
        self._reload_lock = asyncio.Lock()
        self._llama_server_problem: str | None = None  # as last checked, off the event loop
        self._verify_run = VerifyRun(backend.mark_damaged, self._changed)
        backend.subscribe(self._on_view)

    # -- reading ---------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def lifecycle(self) -> Lifecycle:
        return self._lifecycle

    def views(self) -> Mapping[str, SlotView]:
        return self._backend.views()

    def view(self, name: str) -> SlotView | None:
        return self._backend.views().get(name)

    @property
    def progress(self) -> Aggregate:
        return aggregate(self._backend.views(), self._last_final)

    @property
    def status(self) -> str:
        views = self._backend.views()
        return status_text(
            self._lifecycle,
            views,
            self.progress,
            self._llama_server_problem,
            units_available=self._units_available,
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener()`` runs after anything the manager reports may have changed."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def set_lifecycle(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle
        self._changed()

    # -- operations ------------------------------------------------------------------------

    async def pull(self, name: str, auth: Authorizer) -> None:
        name = self._known(name)
        self._require_running()
        await auth.require(ACTION_MODEL_MANAGE)
        await self._backend.pull(name)

    async def load(self, name: str, auth: Authorizer, *, force: bool = False) -> None:
        """``force`` skips the check of the model's size against available memory."""
        name = self._known(name)
        self._require_running()
        await auth.require(ACTION_SLOT_MANAGE)
        if self._backend.needs_pull(name):
            await auth.require(ACTION_MODEL_MANAGE)
        await self.check_llama_server()
        await self._backend.load(name, force=force)

    async def wake(self, name: str, auth: Authorizer) -> None:
        """Start a configured slot whose model is in the store (the router's call): it needs
        only org.hal0.slot.wake because it never pulls and never stops anything."""
        name = self._known(name)
        self._require_running()
        await auth.require(ACTION_SLOT_WAKE)
        await self._backend.wake(name)

    async def unload(self, name: str, auth: Authorizer) -> None:
        name = self._known(name)
        self._require_running()
        await auth.require(ACTION_SLOT_MANAGE)
        await self._backend.unload(name)

    async def restart(self, name: str, auth: Authorizer) -> None:
        name = self._known(name)
        self._require_running()
        await auth.require(ACTION_SLOT_MANAGE)
        await self._backend.restart(name)

    async def cancel(self, name: str, auth: Authorizer) -> None:
        name = self._known(name)
        self._require_running()
        view = self._backend.views()[name]
        pulling = view.phase is not None and not view.phase.is_final
        await auth.require(ACTION_MODEL_MANAGE if pulling else ACTION_SLOT_MANAGE)
        await self._backend.cancel(name)

    async def prune(self, auth: Authorizer) -> PruneReport:
        self._require_running()
        await auth.require(ACTION_MODEL_MANAGE)
        return await self._need_store().prune(self._backend.models_in_use())

    # -- the model store -------------------------------------------------------------------

    def resolve_model(self, model: str) -> CatalogEntry:
        """Read-only and open to everyone: the catalogs are never fetched for it."""
        self._require_running()  # the held catalogs are read while hal0d starts
        return self._backend.resolve_model(model)

    async def models(self) -> list[tuple[StoredModel, list[str]]]:
        """Every stored model with the names of the slots that use it. Open to everyone."""
        self._require_running()  # the store opens while hal0d starts
        uses = self._backend.model_uses()
        stored = await self._need_store().models()
        return [(m, sorted({use.slot for use in uses.get(m.sha256, [])})) for m in stored]

    @property
    def verify_progress(self) -> VerifyProgress:
        return self._verify_run.progress

    async def verify(self, sha256: str, auth: Authorizer) -> None:
        """Re-hash one stored model ("" = all) in the background; returns once started.
        BusyError while a run goes on, NoModelError if that digest is not stored."""
        wanted = check_sha256(sha256) if sha256 else None
        self._require_running()
        await auth.require(ACTION_MODEL_MANAGE)
        store = self._need_store()
        models = await store.models()
        if wanted is not None:
            models = [model for model in models if model.sha256 == wanted]
            if not models:
                raise NoModelError(
                    f"model {wanted} is not in the store; nothing to verify ({LISTING})"
                )
        self._verify_run.start(store, models)

    async def delete_model(self, sha256: str, auth: Authorizer) -> None:
        """Delete one stored model nothing uses: BusyError naming each use otherwise."""
        sha256 = check_sha256(sha256)
        self._require_running()
        await auth.require(ACTION_MODEL_MANAGE)
        store = self._need_store()
        if not store.has(sha256):
            raise NoModelError(f"model {sha256} is not in the store; nothing to delete ({LISTING})")
        uses = self._backend.model_uses().get(sha256)
        if uses:
            raise BusyError(
                f"model {sha256} is {describe(uses)}; it was not deleted. Give those slots "
                "another model or remove them first (a running unit must be unloaded)"
            )
        await store.delete(sha256)

    async def reload(self, auth: Authorizer | None = None) -> None:
        """Read the config again; on any error keep the old one and raise ConfigError."""
        if auth is not None:
            self._require_running()
            await auth.require(ACTION_CONFIG_RELOAD)
        async with self._reload_lock:
            previous = self._lifecycle
            self.set_lifecycle(Lifecycle.RELOADING)
            try:
                await self._reload()
            finally:
                self.set_lifecycle(previous)

    async def _reload(self) -> None:
        directory = self._config.config_dir
        ports = {name: slot.port for name, slot in self._config.slots.items() if slot.port}
        config, problems = await asyncio.to_thread(load_config, directory, ports)
        log_problems(problems, log)
        if config is None:
            errors = [str(p) for p in problems if p.severity is Severity.ERROR]
            raise ConfigError(
                f"configuration in {directory} has {len(errors)} error(s), keeping the "
                f"previous one: {'; '.join(errors[:5])}"
            )
        self._backend.apply_config(config)  # all or nothing
        if self._store is not None:
            self._store.apply(settings_from_config(config.global_))
        self._config = config
        log.info("configuration reloaded: %d slot(s)", len(config.slots))
        await self.check_llama_server()

    async def check_llama_server(self) -> None:
        """Look at the llama-server binary again (in a thread: it is file-system I/O)."""
        path = self._config.global_.llama_server
        found = await asyncio.to_thread(problem, Need(path, EXECUTE))
        text = None if found is None else f"llama-server {str(path)!r} {found}; {LLAMA_SERVER_HINT}"
        if text != self._llama_server_problem:
            self._llama_server_problem = text
            self._changed()

    # -- internals -------------------------------------------------------------------------

    def _require_running(self) -> None:
        """Until the backend has subscribed to systemd and adopted the running units, what
        hal0d knows is incomplete, and the store and catalogs are not open yet: nothing that
        changes a slot or the store, nor a read of the store or the catalogs, may run."""
        if self._lifecycle is Lifecycle.STARTING:
            raise BusyError("hal0d is starting: recovering slot state; try again in a moment")

    def _need_store(self) -> Store:
        if self._store is None:
            raise Hal0Error("this hal0d has no model store")
        return self._store

    def _known(self, name: str) -> str:
        validate_slot_name(name)
        if name not in self._backend.views():
            raise NoSuchSlotError(f"no slot named {name!r} is configured")
        return name

    def _on_view(self, view: SlotView) -> None:
        if view.phase is not None and view.phase.is_final:
            self._last_final = Aggregate(str(view.phase), view.bytes_done, view.bytes_total)
        self._changed()

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
