"""A SlotBackend that can pull but not run units: hal0d's backend when systemd is not on
its bus (a container without systemd, the bus test tier).

Slot views come from the config; Pull and Cancel use the real model store. Load, Unload and
Restart answer a clear `UnitError`. With systemd on the bus the daemon uses the slot
supervisor (`hal0d.slots.supervisor`) instead.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from hal0d.config import Config, SlotConfig
from hal0d.contract import SLOT_UNIT_TEMPLATE
from hal0d.errors import BusyError, Hal0Error, NoSuchSlotError, UnitError
from hal0d.slots.model_request import ModelResolver
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotListener, SlotView
from hal0d.store.progress import ProgressSnapshot, PullPhase
from hal0d.store.store import ModelStore, PullHandle

log = logging.getLogger(__name__)

NO_SUPERVISOR = (
    "cannot {verb} slot {name!r}: systemd is not reachable on hal0d's bus, so "
    "hal0-slot@.service units cannot be driven"
)


class PullOnlyBackend:
    def __init__(self, config: Config, store: ModelStore) -> None:
        self._store = store
        self._models = ModelResolver()
        self._slots: dict[str, SlotConfig] = {}
        self._views: dict[str, SlotView] = {}
        self._pulls: dict[str, PullHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[SlotListener] = []
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        self._global = config.global_
        self._slots = dict(config.slots)
        for name in list(self._views):
            if name not in self._slots:
                del self._views[name]
        for name, slot in self._slots.items():
            old = self._views.get(name)
            view = SlotView(
                name=name,
                state=SlotState.OFFLINE,
                unit=SLOT_UNIT_TEMPLATE.format(name),
                model=slot.model.label,
                sha256=slot.model.sha256 or "",
                endpoint=f"http://127.0.0.1:{slot.port}" if slot.port else "",
            )
            if old is not None:
                view = replace(
                    view,
                    state=old.state,
                    phase=old.phase,
                    bytes_done=old.bytes_done,
                    bytes_total=old.bytes_total,
                    last_error=old.last_error,
                )
            self._views[name] = view

    def views(self) -> Mapping[str, SlotView]:
        return dict(self._views)

    def subscribe(self, listener: SlotListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def needs_pull(self, name: str) -> bool:
        slot = self._slot(name)
        return slot.model.sha256 is None or not self._store.has(slot.model.sha256)

    async def pull(self, name: str) -> None:
        slot = self._slot(name)
        if name in self._pulls:
            raise BusyError(f"slot {name!r} is already pulling its model")
        request = await self._models.request_for(slot, self._global)
        if name in self._pulls:  # a second Pull came in while a catalog was loading
            raise BusyError(f"slot {name!r} is already pulling its model")
        handle = self._store.pull(request)
        self._pulls[name] = handle
        handle.progress.subscribe(lambda snapshot: self._on_progress(name, snapshot))
        self._on_progress(name, handle.progress.snapshot)
        task = asyncio.ensure_future(self._await_pull(name, handle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def load(self, name: str, *, force: bool = False) -> None:
        raise UnitError(NO_SUPERVISOR.format(verb="load", name=self._slot(name).name))

    async def unload(self, name: str) -> None:
        raise UnitError(NO_SUPERVISOR.format(verb="unload", name=self._slot(name).name))

    async def restart(self, name: str) -> None:
        raise UnitError(NO_SUPERVISOR.format(verb="restart", name=self._slot(name).name))

    async def cancel(self, name: str) -> None:
        self._slot(name)
        handle = self._pulls.get(name)
        if handle is None:
            raise BusyError(f"slot {name!r} has no pull or load to cancel")
        handle.cancel()

    async def start(self) -> None:
        """Nothing to recover: without systemd no slot unit can be running."""

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _await_pull(self, name: str, handle: PullHandle) -> None:
        try:
            await handle.wait()
        except Hal0Error as error:
            log.info("pull for slot %s ended: %s", name, error)
        finally:
            if self._pulls.get(name) is handle:
                del self._pulls[name]

    def _on_progress(self, name: str, snapshot: ProgressSnapshot) -> None:
        view = self._views.get(name)
        if view is None:
            return
        if snapshot.phase.is_final:
            state = SlotState.ERROR if snapshot.phase is PullPhase.FAILED else SlotState.OFFLINE
        else:
            state = SlotState.PULLING
        view = replace(
            view,
            state=state,
            phase=snapshot.phase,
            bytes_done=snapshot.bytes_done,
            bytes_total=snapshot.bytes_total,
            last_error=snapshot.error if snapshot.phase is PullPhase.FAILED else view.last_error,
        )
        self._views[name] = view
        for listener in list(self._listeners):
            listener(view)

    def _slot(self, name: str) -> SlotConfig:
        slot = self._slots.get(name)
        if slot is None:
            raise NoSuchSlotError(f"no slot named {name!r} is configured")
        return slot
