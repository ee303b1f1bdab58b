"""The supervision tick runs only while some slot's unit is up: an idle hal0d with no slot
running sleeps until a unit changes (or the clock alone would change a state), instead of
waking every second. Loading a slot wakes it again."""

from types import SimpleNamespace

import pytest

from hal0d.slots.state import SlotState
from hal0d.slots.watcher import idle_wait
from tests.unit.slots.harness import World, hal0d


def record(recheck_at: float | None) -> SimpleNamespace:
    """What idle_wait reads of a SlotRecord."""
    return SimpleNamespace(tracker=SimpleNamespace(derived=SimpleNamespace(recheck_at=recheck_at)))


@pytest.mark.parametrize(
    ("rechecks", "wait"),
    [
        ([], None),  # no slots
        ([None, None], None),  # nothing the clock alone would change: wait for a unit change
        ([None, 105.0, 103.0], 3.0),  # the earliest recheck
        ([99.0], None),  # a recheck already past was derived by the tick that just ran
    ],
)
def test_idle_wait(rechecks: list[float | None], wait: float | None) -> None:
    assert idle_wait([record(at) for at in rechecks], now=100.0) == wait  # type: ignore[list-item]


@pytest.mark.timeout(30)
async def test_a_load_wakes_the_idle_tick(world: World) -> None:
    model = world.model("chat")
    world.write_slot("chat", f'url = "{model.url}"\nsha256 = "{model.sha256}"\nallow_http = true\n')
    async with hal0d(world) as daemon:  # nothing up: the tick waits for a unit change
        await daemon.supervisor.load("chat")
        await daemon.until("chat", lambda v: v.state is SlotState.READY)
        daemon.probe.asked.clear()
        await daemon.probe.asked.wait()  # the tick probes the running slot again
