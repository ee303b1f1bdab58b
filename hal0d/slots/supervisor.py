"""SlotSupervisor: the SlotBackend that commands hal0-slot@NAME.service units.

systemd owns the slot processes; the supervisor only asks (start, stop, restart,
reset-failed). Watching is `SlotWatcher`'s, pulls and model identity are `SlotModels`', and
everything known about a slot lives in its one `SlotRecord`.

Adapters are injected — a unit driver (`SystemdClient`, or `NoSystemd` when systemd is not on
the bus), a prober, the model store and clocks — so the same code runs against real systemd
and against the in-memory driver of the unit tests.

hal0d stopping or dying never stops a slot unit. On start the supervisor adopts every
hal0-slot@* unit (reading what each runs from its env file before anything could rewrite it),
reads its state, probes the running ones and starts autostart slots — all before returning, so
the daemon's READY=1 comes after the slots show their true state. Catalogs are not fetched
then: the held copies are used and remote ones refreshed in the background.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from hal0d.config.model import Config, SlotConfig
from hal0d.config.ports import save_assignments
from hal0d.errors import (
    BusyError,
    ConfigError,
    Hal0Error,
    NoModelError,
    NoSuchSlotError,
    NothingToCancelError,
)
from hal0d.slots import envfile
from hal0d.slots.adapters import DEFAULT_TIMING, Adapters, Timing
from hal0d.slots.identity import forget_identity, forget_others, reference
from hal0d.slots.launcher import Launcher, check_port
from hal0d.slots.model_request import ModelResolver
from hal0d.slots.models import ModelUse, SlotModels, model_uses
from hal0d.slots.record import SlotRecord, unconfigured
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotListener, SlotView
from hal0d.slots.watcher import SlotWatcher
from hal0d.store.catalog import CatalogEntry
from hal0d.store.progress import ProgressSnapshot
from hal0d.store.scrub import Damage
from hal0d.systemd.units import SLOT_UNIT_PATTERN, slot_from_unit, slot_unit
from hal0d.tasks import TaskSet

log = logging.getLogger(__name__)


class SlotSupervisor:
    def __init__(
        self,
        config: Config,
        adapters: Adapters,
        *,
        env_dir: Path = envfile.DEFAULT_DIR,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        self._config = config
        self._adapters = adapters
        self._systemd = adapters.systemd
        self._records: dict[str, SlotRecord] = {}
        self._tasks = TaskSet(log)
        self._models = SlotModels(adapters.store, ModelResolver())
        self._watcher = SlotWatcher(self._records, adapters, timing, self._tasks, self)
        self._launcher = Launcher(adapters, self._models, self._watcher, env_dir, timing)
        self._unsubscribe: Callable[[], None] | None = None
        self._apply(config)

    # -- SlotBackend: reading ------------------------------------------------------------

    def views(self) -> Mapping[str, SlotView]:
        return {name: r.tracker.view for name, r in self._records.items() if not r.removed}

    def subscribe(self, listener: SlotListener) -> Callable[[], None]:
        listeners = self._watcher.listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    def needs_pull(self, name: str) -> bool:
        return self._models.path_for(self._record(name)) is None

    def models_in_use(self) -> dict[str, str]:
        return self._models.keep_set(self._records.values(), self._config)

    def model_uses(self) -> dict[str, list[ModelUse]]:
        return model_uses(self._records.values(), self._config)

    def resolve_model(self, model: str) -> CatalogEntry:
        return self._models.resolver.resolve_held(model, self._config.global_)

    def mark_damaged(self, damage: Damage) -> None:
        for record in self._records.values():
            uses = (record.wanted_sha256, record.tracker.sha256)  # configured, or running
            if not record.removed and damage.sha256 in uses:
                hint = f"pull it again to restore it: hal0ctl pull {record.name}"
                record.tracker.damage = (damage.sha256, f"{damage.sentence()}; {hint}")
                log.error("slot %s: %s", record.name, damage.sentence())
                self._watcher.publish(record)

    # -- lifecycle of the supervisor -----------------------------------------------------

    async def start(self) -> None:
        """Adopt existing slot units and rebuild their state; start autostart slots."""
        self._unsubscribe = self._systemd.on_unit_changed(self._watcher.on_unit_changed)
        await self._systemd.subscribe()
        await self._models.recall(list(self._records.values()), self._config.global_)
        for unit in await self._systemd.list_units([SLOT_UNIT_PATTERN]):
            name = slot_from_unit(unit)
            if name is not None and name not in self._records:
                self._records[name] = unconfigured(name, self._config)
        await self._watch_units()
        for record in list(self._records.values()):
            await self._watcher.refresh(record)
            if record.removed:  # its slot file went while hal0d was down
                self._retire(record)
        names = set(self._records)
        await asyncio.to_thread(forget_others, self._config.global_.state_dir, names)
        await self._watcher.probe_all()
        self._watcher.publish_all()
        self._tasks.spawn(self._watcher.tick_loop(), "slot supervision")
        self._tasks.spawn(self._refresh_catalogs(), "refreshing the catalogs")
        self._tasks.spawn(self._save_ports(), "saving port assignments")
        for record in list(self._records.values()):
            if record.config.autostart and not record.removed and not record.tracker.unit_is_up:
                await self._autostart(record.name)

    async def _autostart(self, name: str) -> None:
        try:
            await self.load(name)
        except Hal0Error as error:
            log.error("autostart of slot %s failed: %s", name, error)  # noqa: TRY400

    async def _refresh_catalogs(self) -> None:
        await self._models.refresh_catalogs(list(self._records.values()), self._config.global_)
        self._watcher.publish_all()

    async def stop(self) -> None:
        """Stop watching. Slot units keep running: systemd owns them."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for record in self._records.values():
            if record.pull is not None:
                record.pull.cancel()
        await self._tasks.close()
        for close in self._adapters.closers:
            await close()

    def apply_config(self, config: Config) -> None:
        """Take a new configuration (start, SIGHUP, Reload), all of it or — on a ConfigError
        before anything changed — none. A running unit keeps its model and port until its next
        start; a slot whose file is gone has its unit stopped (with the usual drain)."""
        added = self._apply(config)
        self._watcher.publish_all()  # the views are the new config's when Reload returns
        self._tasks.spawn(self._after_apply(added), "applying the configuration")

    def _apply(self, config: Config) -> list[SlotRecord]:
        """Records for ``config``; the ones it adds."""
        missing = sorted(name for name, slot in config.slots.items() if slot.port is None)
        if missing:
            raise ConfigError(f"slot(s) {', '.join(missing)} have no port assigned")
        self._config = config
        for record in list(self._records.values()):
            if record.name not in config.slots and not record.removed:
                self._retire(record)
        added = []
        for name, slot in config.slots.items():
            old = self._records.get(name)
            if old is None or old.removed:
                self._records[name] = SlotRecord(slot, slot.port or 0)
                added.append(self._records[name])
            elif slot != old.config:
                self._reconfigure(old, slot)
        return added

    def _reconfigure(self, record: SlotRecord, slot: SlotConfig) -> None:
        if reference(slot) != reference(record.config) and record.pull is not None:
            log.info("slot %s: its model changed; cancelling the pull of the old one", slot.name)
            record.pending_load = None
            record.pull.cancel()
        record.reconfigure(slot, slot.port or 0)
        if record.tracker.pending:
            log.warning("slot %s: %s", slot.name, record.tracker.pending)

    def _retire(self, record: SlotRecord) -> None:
        log.info("slot %s removed from the configuration: stopping its unit", record.name)
        record.removed, record.pending_load = True, None
        if record.pull is not None:
            record.pull.cancel()
        self._tasks.spawn(self._stop_retired(record), f"stopping removed slot {record.name}")

    async def _watch_units(self) -> None:
        """systemd's signals for exactly the units of the slots hal0d knows."""
        await self._systemd.watch_units([slot_unit(name) for name in self._records])

    async def _stop_retired(self, record: SlotRecord) -> None:
        if record.tracker.unit is None:
            self._drop(record)
            return
        await self._launcher.stop(record)

    async def _after_apply(self, added: list[SlotRecord]) -> None:
        await self._watch_units()
        await self._models.recall(added, self._config.global_)
        await self._save_ports()
        for record in list(self._records.values()):
            self._watcher.schedule_refresh(record)
        await self._refresh_catalogs()

    async def _save_ports(self) -> None:
        ports = {name: slot.port or 0 for name, slot in self._config.slots.items()}
        try:
            await asyncio.to_thread(save_assignments, self._config.global_.state_dir, ports)
        except OSError as error:
            log.warning("cannot save port assignments: %s", error)

    # -- SlotBackend: actions ------------------------------------------------------------

    async def pull(self, name: str) -> None:
        record = self._record(name)
        await self._models.start_pull(record, self._config.global_, self._on_pull_progress)
        self._tasks.spawn(self._finish_pull(record), f"pull for slot {name}")

    async def load(self, name: str, *, force: bool = False) -> None:
        record = self._record(name)
        try:
            await self._load(record, force)
        except BaseException:
            record.tracker.load_requested = False
            self._watcher.publish(record)
            raise
        self._watcher.publish(record)

    async def _load(self, record: SlotRecord, force: bool) -> None:
        if record.pull is not None:
            record.pending_load, record.tracker.load_requested = force, True
            return
        if record.tracker.unit_is_running:
            return  # a configured change waits for Restart: never rewrite a running unit's file
        check_port(record, list(self._records.values()))
        if self._models.path_for(record) is None:
            size = record.config.model.size
            if size is not None:
                self._launcher.check_memory(record, size, force)
            record.pending_load, record.tracker.load_requested = force, True
            await self.pull(record.name)
            return
        record.tracker.load_requested = True
        await self._launch(record, "StartUnit", force)

    async def wake(self, name: str) -> None:
        record = self._record(name)
        if record.pull is not None:
            raise BusyError(f"slot {name!r} is pulling its model; Wake never pulls")
        if record.tracker.load_requested or record.tracker.unit_is_up:
            return  # starting or up already: the caller follows State
        if self._models.path_for(record) is None:
            raise NoModelError(
                f"the model of slot {name!r} is not in the store; "
                f"pull it first: hal0ctl pull {name}"
            )
        await self.load(name)

    async def unload(self, name: str) -> None:
        record = self._record(name)
        record.tracker.load_requested, record.pending_load = False, None
        if record.pull is not None:
            record.pull.cancel()
        await self._launcher.stop(record)

    async def restart(self, name: str) -> None:
        record = self._record(name)
        if self._models.path_for(record) is None:
            raise NoModelError(f"slot {name!r} has no model yet; Load it (that pulls first)")
        record.tracker.refused = record.tracker.refused_name = ""
        await self._launch(record, "RestartUnit", True)

    async def cancel(self, name: str) -> None:
        record = self._record(name)
        if record.pull is not None:
            record.pending_load, record.tracker.load_requested = None, False
            record.pull.cancel()
            return
        if record.tracker.view.state in (SlotState.STARTING, SlotState.WARMING):
            await self._launcher.stop(record)
            return
        raise NothingToCancelError(f"slot {name!r} has no pull or load to cancel")

    # -- helpers ---------------------------------------------------------------------------

    async def _finish_pull(self, record: SlotRecord) -> None:
        path = await self._models.finish_pull(record, self._config.global_)
        if path is not None:
            self._restored(path.stem)
        force = record.pending_load
        record.pending_load = None
        if path is None or force is None or self._records.get(record.name) is not record:
            record.tracker.load_requested = False
            self._watcher.publish(record)
            return
        try:
            await self._launch(record, "StartUnit", force)
        except Hal0Error as error:
            log.error("load of slot %s after its pull failed: %s", record.name, error)  # noqa: TRY400
            record.tracker.refused, record.tracker.load_requested = str(error), False
            record.tracker.refused_name = error.dbus_name
            self._watcher.publish(record)

    def _restored(self, sha256: str) -> None:
        """A pull put verified bytes of ``sha256`` back: no slot's model is damaged now."""
        for record in self._records.values():
            if record.tracker.damage is not None and record.tracker.damage[0] == sha256:
                record.tracker.damage = None
                self._watcher.publish(record)

    async def _launch(self, record: SlotRecord, verb: str, force: bool) -> None:
        others = list(self._records.values())
        await self._launcher.launch(record, others, self._config.global_, verb=verb, force=force)

    def _on_pull_progress(self, record: SlotRecord, snapshot: ProgressSnapshot) -> None:
        if not snapshot.phase.is_final:  # the end of a pull is _finish_pull's to show
            record.tracker.observe_pull(snapshot)
            self._watcher.publish(record)

    # -- the watcher's hooks ----------------------------------------------------------------

    async def observed(self, record: SlotRecord) -> None:
        if record.removed and not record.tracker.unit_is_up:
            self._drop(record)
            return
        await self._models.observe_running(record, self._launcher.env_dir, self._config.global_)

    def _drop(self, record: SlotRecord) -> None:
        if self._records.get(record.name) is record:
            del self._records[record.name]
            state_dir = self._config.global_.state_dir
            self._tasks.spawn(
                asyncio.to_thread(forget_identity, state_dir, record.name),
                f"forgetting removed slot {record.name}",
            )

    async def idle(self, record: SlotRecord) -> None:
        await self.unload(record.name)

    def _record(self, name: str) -> SlotRecord:
        record = self._records.get(name)
        if record is None or record.removed:
            raise NoSuchSlotError(f"no slot named {name!r} is configured")
        return record
