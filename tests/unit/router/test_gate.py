"""The gate's decisions, against an in-memory stand-in for hal0d's published slots.

`FakeHal0d` plays what the bus shows (states, LastError, progress) and what Wake answers; the
router's cache is exercised against the real hal0d in the bus and system tiers. The clock is
a variable, so cooldowns are checked without waiting for them.
"""

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from hal0d.router.cache import SlotInfo
from hal0d.router.gate import BUSY, NOT_IN_STORE, Gates
from hal0d.router.http import ApiError
from hal0d.router.settings import RouterSettings

ENDPOINT = "http://127.0.0.1:8100"


class FakeHal0d:
    def __init__(self, *infos: SlotInfo) -> None:
        self.infos = {info.name: info for info in infos}
        self.hal0d_present = True
        self.wakes: list[str] = []
        self.on_wake: Callable[[str], tuple[str, str] | None] = lambda name: None
        self._changed = asyncio.Event()

    def slot(self, name: str) -> SlotInfo | None:
        return self.infos.get(name)

    async def changed(self) -> None:
        await self._changed.wait()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wake(self, name: str) -> tuple[str, str] | None:
        self.wakes.append(name)
        self.notify()
        return self.on_wake(name)

    def show(self, name: str, **changes: object) -> None:
        info = self.infos[name]
        self.infos[name] = replace(info, serial=info.serial + 1, **changes)  # type: ignore[arg-type]
        self.notify()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def offline(name: str = "chat") -> SlotInfo:
    return SlotInfo(name, "offline", ENDPOINT)


async def until(hal0d: FakeHal0d, check: Callable[[], bool]) -> None:
    while not check():
        await hal0d.changed()


async def test_a_ready_slot_is_forwarded_at_once_without_waking() -> None:
    hal0d = FakeHal0d(SlotInfo("chat", "serving", ENDPOINT))
    gates = Gates(hal0d, RouterSettings())
    assert (await gates.ready("chat")).endpoint == ENDPOINT
    assert hal0d.wakes == []


async def test_twenty_requests_for_an_offline_slot_wake_it_once() -> None:
    hal0d = FakeHal0d(offline())
    gates = Gates(hal0d, RouterSettings())
    waiting = [asyncio.ensure_future(gates.ready("chat")) for _ in range(20)]
    await until(hal0d, lambda: hal0d.wakes == ["chat"])
    hal0d.show("chat", state="starting")
    hal0d.show("chat", state="warming")
    assert not any(task.done() for task in waiting)
    hal0d.show("chat", state="ready")
    answers = await asyncio.gather(*waiting)
    assert [a.endpoint for a in answers] == [ENDPOINT] * 20
    assert hal0d.wakes == ["chat"]


async def test_beyond_the_queue_size_requests_get_429_with_retry_after() -> None:
    hal0d = FakeHal0d(offline())
    gates = Gates(hal0d, RouterSettings(queue_size=2))
    waiting = [asyncio.ensure_future(gates.ready("chat")) for _ in range(2)]
    await until(hal0d, lambda: hal0d.wakes == ["chat"])
    with pytest.raises(ApiError) as caught:
        await gates.ready("chat")
    assert caught.value.status == 429
    assert caught.value.reply().headers[-1][0] == "retry-after"
    hal0d.show("chat", state="ready")
    await asyncio.gather(*waiting)


async def test_a_slot_that_stays_loading_beyond_the_wait_gets_503() -> None:
    hal0d = FakeHal0d(offline())
    gates = Gates(hal0d, RouterSettings(wait_timeout=0.05))
    hal0d.on_wake = lambda name: hal0d.show(name, state="warming")
    with pytest.raises(ApiError) as caught:
        await gates.ready("chat")
    assert (caught.value.status, caught.value.code) == (503, "slot_not_ready")
    assert caught.value.retry_after


async def test_a_failed_load_starts_a_doubling_cooldown_that_wakes_nothing() -> None:
    hal0d = FakeHal0d(offline())
    clock = Clock()
    gates = Gates(hal0d, RouterSettings(cooldown=10, cooldown_max=25), clock)

    async def fail_once() -> ApiError:
        waiting = asyncio.ensure_future(gates.ready("chat"))
        await until(hal0d, lambda: len(hal0d.wakes) == wakes + 1)
        hal0d.show("chat", state="starting")
        hal0d.show("chat", state="error", last_error="crashed 3 times (exit code 1)")
        with pytest.raises(ApiError) as caught:
            await waiting
        return caught.value

    wakes = 0
    first = await fail_once()
    assert (first.status, first.retry_after) == (503, 10)
    assert "crashed 3 times (exit code 1)" in first.message
    clock.now += 9
    with pytest.raises(ApiError) as during:
        await gates.ready("chat")
    assert (during.value.code, during.value.retry_after) == ("slot_load_failed", 1)
    assert len(hal0d.wakes) == 1
    clock.now += 1  # the cooldown is over: the next request tries again, and fails again
    wakes = 1
    second = await fail_once()
    assert second.retry_after == 20
    clock.now += 20
    wakes = 2
    third = await fail_once()
    assert third.retry_after == 25  # cooldown_max
    clock.now += 25
    waiting = asyncio.ensure_future(gates.ready("chat"))
    await until(hal0d, lambda: len(hal0d.wakes) == 4)
    hal0d.show("chat", state="ready")
    await waiting


async def test_a_pulling_slot_answers_503_with_its_progress() -> None:
    hal0d = FakeHal0d(
        SlotInfo("chat", "pulling", ENDPOINT, phase="download", bytes_done=25, bytes_total=100)
    )
    gates = Gates(hal0d, RouterSettings())
    with pytest.raises(ApiError) as caught:
        await gates.ready("chat")
    error = caught.value
    assert (error.status, error.code) == (503, "model_pulling")
    assert "25 % of 100 bytes" in error.message
    assert error.extra == {"progress": {"phase": "download", "bytes_done": 25, "bytes_total": 100}}
    assert hal0d.wakes == []


async def test_a_model_not_in_the_store_answers_with_hal0d_s_message_and_no_cooldown() -> None:
    hal0d = FakeHal0d(offline())
    message = "the model of slot 'chat' is not in the store; pull it first: hal0ctl pull chat"
    hal0d.on_wake = lambda name: (NOT_IN_STORE, message)
    gates = Gates(hal0d, RouterSettings())
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            await gates.ready("chat")
        assert (caught.value.status, caught.value.message) == (503, message)
    assert hal0d.wakes == ["chat", "chat"]  # no cooldown: a pull may end any moment


async def test_with_hal0d_away_ready_slots_serve_and_offline_ones_get_503() -> None:
    hal0d = FakeHal0d(SlotInfo("up", "ready", ENDPOINT), offline("down"))
    hal0d.hal0d_present = False
    gates = Gates(hal0d, RouterSettings())
    assert (await gates.ready("up")).name == "up"
    with pytest.raises(ApiError) as caught:
        await gates.ready("down")
    assert (caught.value.status, caught.value.code) == (503, "hal0d_unreachable")
    assert hal0d.wakes == []


async def test_a_busy_hal0d_is_asked_again_and_is_no_failed_load() -> None:
    hal0d = FakeHal0d(offline())
    answers = iter([(BUSY, "hal0d is starting: recovering slot state"), None])
    hal0d.on_wake = lambda name: next(answers)
    gates = Gates(hal0d, RouterSettings())
    waiting = asyncio.ensure_future(gates.ready("chat"))
    await until(hal0d, lambda: len(hal0d.wakes) == 2)  # asked again a moment later
    hal0d.show("chat", state="ready")
    assert (await waiting).endpoint == ENDPOINT
