"""Holding a request until its slot is ready: wake once, bounded queue, bounded wait, cooldown.

Per slot, the first request that finds it offline (or in error) asks hal0d to ``Wake`` it;
every other request for that slot joins the same wait — one start, however many requests.
At most ``queue_size`` requests wait per slot (beyond: 429), each for at most
``wait_timeout`` (beyond: 503). A load that fails starts a cooldown, doubling with each
failure in a row up to ``cooldown_max``: during it requests get 503 with the slot's
``LastError`` at once and nothing is started. A slot that is pulling answers 503 with its
progress; one whose model is not in the store, 503 naming the ``hal0ctl pull`` that fixes it.
Every 429/503 carries ``Retry-After``.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from hal0d.contract import ERROR_PREFIX
from hal0d.router.cache import SlotInfo
from hal0d.router.http import ApiError
from hal0d.router.settings import RouterSettings

log = logging.getLogger(__name__)

NOT_IN_STORE = ERROR_PREFIX + "NoModel"
BUSY = ERROR_PREFIX + "Busy"  # e.g. hal0d still recovering slot state after its start
BUSY_RETRY = 1.0
HAL0D_AWAY_RETRY = 5.0
PULL_RETRY = 10.0
QUEUE_FULL_RETRY = 2.0


class Slots(Protocol):
    """What the gate needs of the cache: `hal0d.router.cache.SlotCache` is the real one."""

    @property
    def hal0d_present(self) -> bool: ...

    def slot(self, name: str) -> SlotInfo | None: ...

    async def changed(self) -> None: ...

    async def wake(self, name: str) -> tuple[str, str] | None: ...

    def notify(self) -> None:
        """Wake everything waiting in `changed`."""
        ...


class _SlotGate:
    def __init__(self) -> None:
        self.waiting = 0
        self.attempt = False  # a Wake was sent and the slot has not settled since
        self.replied = False  # ... and hal0d accepted it
        self.reply_serial = 0  # ... when the slot's cached state had this serial
        self.saw_start = False  # ... and the slot was seen starting since
        self.refused: ApiError | None = None  # hal0d refused the last Wake ...
        self.refused_at = 0.0  # ... at this time
        self.failures = 0  # failed loads in a row
        self.cool_until = 0.0
        self.reason = ""

    def end_attempt(self) -> None:
        self.attempt = self.replied = self.saw_start = False


class Gates:
    def __init__(
        self, slots: Slots, settings: RouterSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slots = slots
        self._settings = settings
        self._clock = clock
        self._gates: dict[str, _SlotGate] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def ready(self, name: str) -> SlotInfo:
        """The slot, once ready to take the request; raises ApiError otherwise."""
        info = self._slots.slot(name)
        if info is not None and info.ready:
            self._gate(name).failures = 0
            return info
        gate = self._gate(name)
        self._check_cooldown(name, gate)
        if gate.waiting >= self._settings.queue_size:
            raise ApiError(
                429,
                f"{gate.waiting} requests are already waiting for slot {name!r} to start "
                f"(queue_size {self._settings.queue_size}); try again shortly",
                "queue_full",
                QUEUE_FULL_RETRY,
            )
        gate.waiting += 1
        try:
            return await asyncio.wait_for(self._wait(name, gate), self._settings.wait_timeout)
        except TimeoutError:
            raise ApiError(
                503,
                f"slot {name!r} did not become ready within {self._settings.wait_timeout:g} s "
                "(wait_timeout); it may still be loading",
                "slot_not_ready",
                min(30.0, self._settings.wait_timeout),
            ) from None
        finally:
            gate.waiting -= 1

    async def _wait(self, name: str, gate: _SlotGate) -> SlotInfo:
        since = self._clock()
        while True:
            info = self._slots.slot(name)
            if info is None:
                raise ApiError(503, f"slot {name!r} is no longer configured", "slot_removed", 5.0)
            if info.ready:
                if gate.attempt:
                    log.info("slot %s is ready", name)
                gate.end_attempt()
                gate.failures = 0
                return info
            self._check_cooldown(name, gate)
            if gate.refused is not None and gate.refused_at >= since:
                raise gate.refused
            self._step(name, info, gate)
            await self._slots.changed()

    def _step(self, name: str, info: SlotInfo, gate: _SlotGate) -> None:
        """React to the slot's state while a request waits for it."""
        state = info.state
        if state == "pulling":
            raise _pulling(info)
        if state in ("starting", "warming"):
            gate.saw_start = gate.saw_start or gate.attempt
            return
        if state not in ("offline", "error"):
            return  # unloading: wait until it is offline, then wake it
        # Seen starting, or changed after hal0d accepted the Wake: a start that ended. (A quick
        # failure may reach the bus coalesced, without the starting in between.)
        if gate.attempt and (gate.saw_start or (gate.replied and info.serial > gate.reply_serial)):
            self._failed(name, info, gate)
        if not gate.attempt:
            self._wake(name, gate)

    def _wake(self, name: str, gate: _SlotGate) -> None:
        if not self._slots.hal0d_present:
            raise ApiError(
                503,
                f"slot {name!r} is not running and hal0d is not reachable to start it",
                "hal0d_unreachable",
                HAL0D_AWAY_RETRY,
            )
        gate.attempt, gate.replied, gate.saw_start = True, False, False
        log.info("waking slot %s", name)
        task = asyncio.get_running_loop().create_task(self._send_wake(name, gate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_wake(self, name: str, gate: _SlotGate) -> None:
        try:
            error = await self._slots.wake(name)
        except Exception as exception:  # the bus went away: nothing was started
            error = ("", str(exception))
        if error is None:
            info = self._slots.slot(name)
            gate.replied, gate.reply_serial = True, info.serial if info else 0
            return
        error_name, message = error
        log.warning("hal0d refused to wake slot %s: %s %s", name, error_name, message)
        gate.end_attempt()
        if error_name == BUSY:  # not a failed load: wake again shortly, the waiters wait on
            asyncio.get_running_loop().call_later(BUSY_RETRY, self._slots.notify)
            return
        if error_name == NOT_IN_STORE:
            gate.refused = ApiError(503, message, "model_not_in_store", PULL_RETRY)
        else:
            gate.refused = self._cool(name, gate, message or error_name)
        gate.refused_at = self._clock()
        self._slots.notify()  # the slot's state did not change: tell its waiters

    def _failed(self, name: str, info: SlotInfo, gate: _SlotGate) -> None:
        reason = info.last_error or f"slot went {info.state} while starting"
        gate.end_attempt()
        raise self._cool(name, gate, reason)

    def _cool(self, name: str, gate: _SlotGate, reason: str) -> ApiError:
        gate.failures += 1
        pause = min(self._settings.cooldown * 2 ** (gate.failures - 1), self._settings.cooldown_max)
        gate.cool_until = self._clock() + pause
        gate.reason = reason
        log.warning("slot %s failed to load (%s); not waking it for %g s", name, reason, pause)
        self._slots.notify()  # every other waiter of this slot gets the same answer
        return self._cooldown_refusal(name, gate)

    def _check_cooldown(self, name: str, gate: _SlotGate) -> None:
        if self._clock() < gate.cool_until:
            raise self._cooldown_refusal(name, gate)

    def _cooldown_refusal(self, name: str, gate: _SlotGate) -> ApiError:
        remaining = max(0.0, gate.cool_until - self._clock())
        return ApiError(
            503,
            f"slot {name!r} failed to load: {gate.reason} "
            f"(not retried for another {remaining:.0f} s)",
            "slot_load_failed",
            remaining,
        )

    def _gate(self, name: str) -> _SlotGate:
        return self._gates.setdefault(name, _SlotGate())


def _pulling(info: SlotInfo) -> ApiError:
    done, total = info.bytes_done, info.bytes_total
    share = f"{done * 100 // total} % of {total} bytes" if total else f"{done} bytes"
    return ApiError(
        503,
        f"slot {info.name!r} is pulling its model ({info.phase or 'download'}: {share}); "
        "it can start once the pull is done",
        "model_pulling",
        PULL_RETRY,
        {"progress": {"phase": info.phase, "bytes_done": done, "bytes_total": total}},
    )
