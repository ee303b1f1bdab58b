"""Watching slots: what systemd says of their units, what llama-server answers, the clock.

Each observation goes into the slot's record (its tracker re-derives the state) and every
changed view is published. A unit change schedules one refresh of that slot's properties;
changes that arrive while one runs fold into a single follow-up refresh.

The tick (probes, idle and unload timers) runs only while some slot's unit is up. With none
up there is nothing to probe, and an idle hal0d sleeps until a unit changes or the clock alone
would change a slot's state.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from hal0d.errors import Hal0Error
from hal0d.slots.adapters import Adapters, Timing
from hal0d.slots.record import SlotRecord
from hal0d.slots.view import SlotListener
from hal0d.systemd.units import slot_from_unit, slot_unit
from hal0d.tasks import TaskSet

log = logging.getLogger(__name__)


class Hooks(Protocol):
    async def observed(self, record: SlotRecord) -> None:
        """After each refresh: bind the model identity, drop a retired slot once down."""
        ...

    async def idle(self, record: SlotRecord) -> None:
        """The slot has been idle for its unload_after."""
        ...


class SlotWatcher:
    def __init__(
        self,
        records: dict[str, SlotRecord],
        adapters: Adapters,
        timing: Timing,
        tasks: TaskSet,
        hooks: Hooks,
    ) -> None:
        self._records = records
        self._systemd = adapters.systemd
        self._prober = adapters.prober
        self._clock = adapters.clock
        self._timing = timing
        self.tasks = tasks
        self._hooks = hooks
        self.listeners: list[SlotListener] = []
        self._due = asyncio.Event()  # a slot came up or awaits the clock: wakes an idle tick

    def on_unit_changed(self, unit: str) -> None:
        name = slot_from_unit(unit)
        if name is not None and name in self._records:
            self.schedule_refresh(self._records[name])

    def schedule_refresh(self, record: SlotRecord) -> None:
        if record.refreshing:
            record.refresh_again = True
            return
        record.refreshing = True
        self.tasks.spawn(self._refresh_loop(record), f"refresh of slot {record.name}")

    async def _refresh_loop(self, record: SlotRecord) -> None:
        try:
            while True:
                record.refresh_again = False
                await self.refresh(record)
                if not record.refresh_again:
                    break
        finally:
            record.refreshing = False

    async def refresh(self, record: SlotRecord) -> None:
        """Read the unit's properties now; probe it if it just came up."""
        try:
            props = await self._systemd.properties(slot_unit(record.name))
        except Hal0Error as error:
            log.warning("cannot read %s: %s", slot_unit(record.name), error)
            return
        was_up = record.tracker.unit_is_up
        record.tracker.observe_unit(props, self._clock())
        record.sync()
        await self._hooks.observed(record)
        if record.tracker.unit_is_up and not was_up:
            await self.probe(record)
        self.publish(record)
        if record.tracker.unit_is_up or record.tracker.derived.recheck_at is not None:
            self._due.set()

    async def probe(self, record: SlotRecord) -> None:
        if not record.tracker.unit_is_up:
            return
        result = await self._prober.probe(record.tracker.port, record.api_key)
        record.tracker.observe_probe(result, self._clock())

    async def probe_all(self) -> None:
        await asyncio.gather(*(self.probe(record) for record in list(self._records.values())))

    async def tick_loop(self) -> None:
        while True:
            await self._until_tick()
            try:
                await self._tick()
            except Exception:
                log.exception("slot supervision tick failed")

    async def _until_tick(self) -> None:
        records = self._records.values()
        if any(record.tracker.unit_is_up for record in records):
            await asyncio.sleep(self._timing.tick)
            return
        self._due.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._due.wait(), idle_wait(records, self._clock()))

    async def _tick(self) -> None:
        await self.probe_all()
        now = self._clock()
        for record in list(self._records.values()):
            self.publish(record)
            if not record.removed and record.tracker.unload_due(now):
                log.info("slot %s idle for its unload_after: stopping its unit", record.name)
                await self._hooks.idle(record)

    def publish(self, record: SlotRecord) -> None:
        if self._records.get(record.name) is not record or record.removed:
            return
        if record.tracker.update(self._clock()):
            for listener in list(self.listeners):
                listener(record.tracker.view)

    def publish_all(self) -> None:
        for record in list(self._records.values()):
            self.publish(record)


def idle_wait(records: Iterable[SlotRecord], now: float) -> float | None:
    """With no unit up: seconds until the clock alone changes some slot's state, or None
    (then only a unit change wakes the tick)."""
    rechecks = [r.tracker.derived.recheck_at for r in records]
    due = [at for at in rechecks if at is not None and at > now]  # the past: derived already
    return min(due) - now if due else None
