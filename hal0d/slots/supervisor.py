"""SlotSupervisor: the SlotBackend that drives hal0-slot@NAME.service units.

systemd owns the slot processes; the supervisor only asks (start, stop, restart, reset-failed)
and watches (unit properties, llama-server probes, pull progress). Each slot's state is
re-derived from those observations by `lifecycle.derive` through a `SlotTracker`.

Adapters are injected: a systemd client (`UnitDriver`), a prober and the model store, so the
core can be driven by real ones in the system tier and by anything with the same shape.

hal0d stopping or dying never stops a slot unit. On start the supervisor adopts every
existing hal0-slot@* unit, reads its state from systemd, probes the running ones, rewrites the
env files and starts autostart slots — all before returning, so the daemon's READY=1 comes
after the slots show their true state.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal0d.config.model import Config
from hal0d.config.ports import assign_ports, load_assignments, save_assignments
from hal0d.errors import BusyError, ConfigError, Hal0Error, NoSuchSlotError, UnitError
from hal0d.slots import envfile
from hal0d.slots.adapters import DEFAULT_TIMING, Adapters, ModelSource, Timing
from hal0d.slots.memory import memory_refusal
from hal0d.slots.model_request import ModelResolver
from hal0d.slots.probe import HttpProbe
from hal0d.slots.state import SlotState
from hal0d.slots.tracker import SlotTracker
from hal0d.slots.view import SlotListener, SlotView
from hal0d.store.progress import ProgressSnapshot, PullPhase
from hal0d.systemd.client import Job, SystemdClient
from hal0d.systemd.units import SLOT_UNIT_PATTERN, slot_from_unit, slot_unit

if TYPE_CHECKING:
    from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

START_JOB_TIMEOUT = 20 * 60.0  # TimeoutStartSec= of the unit is 15 min
STOP_JOB_TIMEOUT = 120.0  # TimeoutStopSec= is 90 s


class InsufficientMemoryError(UnitError):
    """Load refused: the model is larger than the memory available."""


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
        self._models = ModelResolver()
        self._systemd = adapters.systemd
        self._prober = adapters.prober
        self._store = adapters.store
        self._env_dir = env_dir
        self._timing = timing
        self._clock = adapters.clock
        self._memory = adapters.memory
        self._closers = adapters.closers
        self._trackers: dict[str, SlotTracker] = {}
        self._listeners: list[SlotListener] = []
        self._pulls: dict[str, Any] = {}
        self._pending_loads: dict[str, bool] = {}  # slot → force, waiting for its pull
        self._model_paths: dict[str, Path] = {}
        self._api_keys: dict[str, str | None] = {}
        self._refreshing: dict[str, bool] = {}  # slot → another refresh requested meanwhile
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._ports: dict[str, int] = {}
        self._apply(config, previous_ports=load_assignments(config.global_.state_dir))

    # -- SlotBackend: reading ------------------------------------------------------------

    def views(self) -> Mapping[str, SlotView]:
        return {name: tracker.view for name, tracker in self._trackers.items()}

    def subscribe(self, listener: SlotListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def needs_pull(self, name: str) -> bool:
        tracker = self._tracker(name)
        return self._known_model_path(tracker) is None

    # -- lifecycle of the supervisor -----------------------------------------------------

    async def start(self) -> None:
        """Adopt existing slot units and rebuild their state; start autostart slots."""
        self._unsubscribe = self._systemd.on_unit_changed(self._on_unit_changed)
        await self._systemd.subscribe()
        for unit in await self._systemd.list_units([SLOT_UNIT_PATTERN]):
            name = slot_from_unit(unit)
            if name is not None and name not in self._trackers:
                log.warning("%s runs but slot %r is not configured; leaving it alone", unit, name)
        for name in list(self._trackers):
            await self._refresh_once(name)
            await self._write_env(name, required=False)
        await self._probe_all()
        self._publish_all()
        self._spawn(self._tick_loop())
        for name, tracker in list(self._trackers.items()):
            if tracker.config.autostart and not tracker.unit_is_up:
                await self._autostart(name)

    async def _autostart(self, name: str) -> None:
        problem = ""
        try:
            await self.load(name)
        except Hal0Error as error:
            problem = str(error)
        if problem:
            log.error("autostart of slot %s failed: %s", name, problem)

    async def stop(self) -> None:
        """Stop watching. Slot units keep running: systemd owns them."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in list(self._pulls.values()):
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for close in self._closers:
            await close()

    def apply_config(self, config: Config) -> None:
        """Take a new configuration (SIGHUP/Reload); env files are rewritten in the background."""
        self._apply(config, previous_ports=self._ports)
        for name in self._trackers:
            self._spawn(self._write_env(name, required=False))
            self._schedule_refresh(name)
        self._publish_all()

    def _apply(self, config: Config, previous_ports: Mapping[str, int]) -> None:
        self._config = config
        self._ports = assign_ports(config.slots, config.global_.port_range, previous_ports)
        for name in list(self._trackers):
            if name not in config.slots:
                log.info("slot %s removed from the configuration; its unit is left alone", name)
                del self._trackers[name]
        for name, slot in config.slots.items():
            tracker = self._trackers.get(name)
            if tracker is None:
                self._trackers[name] = SlotTracker(slot, self._ports[name])
            else:
                tracker.reconfigure(slot, self._ports[name])
        self._spawn(self._save_ports(dict(self._ports)))

    async def _save_ports(self, ports: dict[str, int]) -> None:
        try:
            await asyncio.to_thread(save_assignments, self._config.global_.state_dir, ports)
        except OSError as error:
            log.warning("cannot save port assignments: %s", error)

    # -- SlotBackend: actions ------------------------------------------------------------

    async def pull(self, name: str) -> None:
        tracker = self._tracker(name)
        if name in self._pulls:
            raise BusyError(f"slot {name!r} is already pulling its model")
        request = await self._models.request_for(tracker.config, self._config.global_)
        if name in self._pulls:  # a second Pull came in while a catalog was loading
            raise BusyError(f"slot {name!r} is already pulling its model")
        handle = self._store.pull(request)
        self._pulls[name] = handle
        handle.progress.subscribe(lambda snapshot: self._on_pull_progress(name, snapshot))
        self._on_pull_progress(name, handle.progress.snapshot)
        self._spawn(self._finish_pull(name, handle))

    async def load(self, name: str, *, force: bool = False) -> None:
        tracker = self._tracker(name)
        try:
            await self._load(tracker, force)
        except BaseException:
            tracker.load_requested = False
            self._publish(tracker)
            raise
        self._publish(tracker)

    async def _load(self, tracker: SlotTracker, force: bool) -> None:
        name = tracker.name
        if name in self._pulls:
            self._pending_loads[name] = force
            tracker.load_requested = True
            return
        if self._known_model_path(tracker) is None:
            size = tracker.config.model.size
            if size is not None:
                self._check_memory(tracker, size, force)
            self._pending_loads[name] = force
            tracker.load_requested = True
            await self.pull(name)
            return
        tracker.load_requested = True
        await self._start_unit(tracker, force)

    async def unload(self, name: str) -> None:
        tracker = self._tracker(name)
        tracker.load_requested = False
        self._pending_loads.pop(name, None)
        handle = self._pulls.get(name)
        if handle is not None:
            handle.cancel()
        job = await self._systemd.queue_job("StopUnit", slot_unit(name))
        self._watch_job(tracker, job, STOP_JOB_TIMEOUT)

    async def restart(self, name: str) -> None:
        tracker = self._tracker(name)
        if self._known_model_path(tracker) is None:
            raise BusyError(f"slot {name!r} has no model yet; Load it (that pulls first)")
        await self._write_env(name, required=True)
        await self._reset_if_failed(tracker)
        tracker.refused = ""
        job = await self._systemd.queue_job("RestartUnit", slot_unit(name))
        self._watch_job(tracker, job, START_JOB_TIMEOUT)

    async def cancel(self, name: str) -> None:
        tracker = self._tracker(name)
        handle = self._pulls.get(name)
        if handle is not None:
            self._pending_loads.pop(name, None)
            tracker.load_requested = False
            handle.cancel()
            return
        if tracker.view.state in (SlotState.STARTING, SlotState.WARMING):
            job = await self._systemd.queue_job("StopUnit", slot_unit(name))
            self._watch_job(tracker, job, STOP_JOB_TIMEOUT)
            return
        raise BusyError(f"slot {name!r} has no pull or load to cancel")

    # -- loading -------------------------------------------------------------------------

    def _known_model_path(self, tracker: SlotTracker) -> Path | None:
        path = self._model_paths.get(tracker.name)
        if path is not None:
            return path
        sha256 = tracker.config.model.sha256
        if sha256 is not None and self._store.has(sha256):
            return self._store.path_for(sha256)
        return None

    def _check_memory(self, tracker: SlotTracker, size: int, force: bool) -> None:
        refusal = None if force else memory_refusal(size, self._memory())
        tracker.refused = refusal or ""
        if refusal is not None:
            tracker.load_requested = False
        self._publish(tracker)
        if refusal is not None:
            raise InsufficientMemoryError(f"slot {tracker.name!r}: {refusal}")

    async def _start_unit(self, tracker: SlotTracker, force: bool) -> None:
        path = self._known_model_path(tracker)
        if path is None:
            raise UnitError(f"slot {tracker.name!r}: its model is not in the store")
        size = tracker.config.model.size
        if size is None:
            size = (await asyncio.to_thread(path.stat)).st_size
        self._check_memory(tracker, size, force)
        await self._write_env(tracker.name, required=True)
        await self._reset_if_failed(tracker)
        if tracker.pull is not None and tracker.pull.phase is not PullPhase.DONE:
            tracker.observe_pull(None)  # an old failed or cancelled pull is not this load's
        job = await self._systemd.queue_job("StartUnit", slot_unit(tracker.name))
        self._watch_job(tracker, job, START_JOB_TIMEOUT)
        self._schedule_refresh(tracker.name)

    async def _reset_if_failed(self, tracker: SlotTracker) -> None:
        # ResetFailedUnit also clears NRestarts and the start-limit counter.
        if tracker.unit is not None and tracker.unit.active_state == "failed":
            await self._systemd.reset_failed_unit(slot_unit(tracker.name))

    async def _finish_pull(self, name: str, handle: Any) -> None:
        try:
            path = await handle.wait()
        except Hal0Error as error:
            log.info("pull for slot %s ended: %s", name, error)
            self._pending_loads.pop(name, None)
            self._load_abandoned(name)
            return
        finally:
            if self._pulls.get(name) is handle:
                del self._pulls[name]
        tracker = self._trackers.get(name)
        if tracker is None:
            return
        if tracker.config.model.sha256 is None:  # verify = "no": the store named it
            self._model_paths[name] = path
        tracker.sha256 = tracker.sha256 or path.stem
        if name in self._pending_loads:
            force = self._pending_loads.pop(name)
            problem = ""
            try:
                await self._start_unit(tracker, force)
            except Hal0Error as error:
                problem = str(error)
            if problem:
                log.error("load of slot %s after its pull failed: %s", name, problem)
                tracker.refused = problem
                self._load_abandoned(name)

    def _load_abandoned(self, name: str) -> None:
        tracker = self._trackers.get(name)
        if tracker is not None:
            tracker.load_requested = False
            self._publish(tracker)

    def _on_pull_progress(self, name: str, snapshot: ProgressSnapshot) -> None:
        tracker = self._trackers.get(name)
        if tracker is not None:
            tracker.observe_pull(snapshot)
            self._publish(tracker)

    def _watch_job(self, tracker: SlotTracker, job: Job, within: float) -> None:
        async def watch() -> None:
            try:
                result = await job.result(within)
            except UnitError as error:
                job.forget()
                log.warning("%s", error)
                return
            if result != "done":
                log.info("%s of %s ended: %s", job.verb, job.unit, result)
            self._schedule_refresh(tracker.name)

        self._spawn(watch())

    async def _write_env(self, name: str, *, required: bool) -> None:
        tracker = self._trackers.get(name)
        if tracker is None:
            return
        path = self._known_model_path(tracker)
        if path is None:
            if required:
                raise UnitError(f"slot {name!r}: its model is not in the store")
            return
        config = self._config.global_
        try:
            api_key = await asyncio.to_thread(read_api_key, tracker.config.api_key_file)
            launch = envfile.Launch(
                llama_server=config.llama_server,
                model_path=path,
                port=tracker.port,
                api_key=api_key,
                drain_sec=self._timing.drain_sec,
                grace_sec=self._timing.grace_sec,
            )
            values = envfile.slot_environment(tracker.config, launch)
            await asyncio.to_thread(envfile.write_env_file, self._env_dir, name, values)
        except (Hal0Error, OSError) as error:
            if required:
                raise ConfigError(f"slot {name!r}: cannot write its env file: {error}") from error
            log.warning("slot %s: cannot write its env file: %s", name, error)
            return
        self._api_keys[name] = api_key

    # -- watching ------------------------------------------------------------------------

    def _on_unit_changed(self, unit: str) -> None:
        name = slot_from_unit(unit)
        if name is not None and name in self._trackers:
            self._schedule_refresh(name)

    def _schedule_refresh(self, name: str) -> None:
        if name in self._refreshing:
            self._refreshing[name] = True
            return
        self._refreshing[name] = False
        self._spawn(self._refresh_loop(name))

    async def _refresh_loop(self, name: str) -> None:
        try:
            while True:
                await self._refresh_once(name)
                if not self._refreshing.get(name):
                    break
                self._refreshing[name] = False
        finally:
            self._refreshing.pop(name, None)

    async def _refresh_once(self, name: str) -> None:
        tracker = self._trackers.get(name)
        if tracker is None:
            return
        try:
            props = await self._systemd.properties(slot_unit(name))
        except Hal0Error as error:
            log.warning("cannot read %s: %s", slot_unit(name), error)
            return
        was_up = tracker.unit_is_up
        tracker.observe_unit(props, self._clock())
        if tracker.unit_is_up and not was_up:
            await self._probe(tracker)
        self._publish(tracker)

    async def _probe(self, tracker: SlotTracker) -> None:
        if not tracker.unit_is_up:
            return
        result = await self._prober.probe(tracker.port, self._api_keys.get(tracker.name))
        tracker.observe_probe(result, self._clock())

    async def _probe_all(self) -> None:
        await asyncio.gather(*(self._probe(t) for t in list(self._trackers.values())))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._timing.tick)
            try:
                await self._tick()
            except Exception:
                log.exception("slot supervision tick failed")

    async def _tick(self) -> None:
        await self._probe_all()
        now = self._clock()
        for tracker in list(self._trackers.values()):
            self._publish(tracker)
            if tracker.unload_due(now):
                log.info("slot %s idle for its unload_after: stopping its unit", tracker.name)
                await self.unload(tracker.name)

    def _publish(self, tracker: SlotTracker) -> None:
        if self._trackers.get(tracker.name) is not tracker:
            return
        if tracker.update(self._clock()):
            for listener in list(self._listeners):
                listener(tracker.view)

    def _publish_all(self) -> None:
        for tracker in list(self._trackers.values()):
            self._publish(tracker)

    # -- helpers -------------------------------------------------------------------------

    def _tracker(self, name: str) -> SlotTracker:
        tracker = self._trackers.get(name)
        if tracker is None:
            raise NoSuchSlotError(f"no slot named {name!r} is configured")
        return tracker

    def _spawn(self, coroutine: Coroutine[Any, Any, Any] | Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def read_api_key(path: Path | None) -> str | None:
    """The first non-comment line of the slot's api_key_file (read by hal0d's user)."""
    if path is None:
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        key = line.strip()
        if key and not key.startswith("#"):
            return key
    raise ConfigError(f"api_key_file {str(path)!r} holds no key")


def slot_supervisor(config: Config, bus: "MessageBus", store: ModelSource) -> SlotSupervisor:
    """The supervisor as the daemon runs it: systemd over ``bus``, httpx probes, the store.

    The daemon awaits ``start()`` before its READY=1 and ``stop()`` when it stops."""
    probe = HttpProbe()
    adapters = Adapters(
        systemd=SystemdClient(bus), prober=probe, store=store, closers=(probe.close,)
    )
    return SlotSupervisor(config, adapters)
