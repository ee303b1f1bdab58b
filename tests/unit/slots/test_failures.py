"""Failures hal0d must always show: a start job that ends without starting the unit, and a
pull that dies of anything at all."""

import logging
from pathlib import Path
from typing import Any

import pytest

from hal0d.slots.state import SlotState
from hal0d.store.download import PullRequest
from hal0d.store.progress import Progress, PullPhase
from hal0d.store.store import ModelStore
from tests.unit.slots.harness import World, hal0d

UNIT = "hal0-slot@chat.service"
pytestmark = pytest.mark.timeout(30)


def url_slot(world: World) -> None:
    m = world.model("m")
    world.write_slot("chat", f'url = "{m.url}"\nsha256 = "{m.sha256}"\nallow_http = true\n')


@pytest.mark.parametrize(
    ("result", "sentence"),
    [
        ("resources", "systemd could not set up the slot"),
        ("dependency", "start job for hal0-slot@chat.service ended with result 'dependency'"),
    ],
)
async def test_a_start_job_that_fails_shows_error_not_starting_forever(
    world: World, result: str, sentence: str
) -> None:
    """Defect: a start job failing before hal0d first read the unit left the slot
    `starting` with no LastError; the job's own result is an observation."""
    url_slot(world)
    world.units.fail_next_start[UNIT] = result
    async with hal0d(world) as daemon:
        await daemon.supervisor.load("chat")
        view = await daemon.until(
            "chat", lambda v: v.state is not SlotState.PULLING and v.state is not SlotState.STARTING
        )
        assert view.state is SlotState.ERROR
        assert sentence in view.last_error
        await daemon.supervisor.load("chat")  # fixed: the next Load starts it
        await daemon.until("chat", lambda v: v.state is SlotState.READY)


class FailingPulls:
    """The real store, except that a pull dies of an error no layer expected (fault
    injection: the real store turns what it knows into Hal0Errors)."""

    def __init__(self, store: ModelStore) -> None:
        self._store = store
        self.broken = True

    def has(self, sha256: str) -> bool:
        return self._store.has(sha256)

    def path_for(self, sha256: str) -> Path:
        return self._store.path_for(sha256)

    def pull(self, request: PullRequest) -> Any:
        return BrokenPull() if self.broken else self._store.pull(request)


class BrokenPull:
    def __init__(self) -> None:
        self.progress = Progress(PullPhase.DOWNLOAD)

    async def wait(self) -> Path:
        raise RuntimeError("disk on fire")

    def cancel(self) -> None:
        """Nothing to cancel."""


async def test_a_pull_dying_of_anything_shows_error_and_drops_its_pending_load(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect: a pull failing with anything but a Hal0Error died silently and left a pending
    load that started the unit on a later, unrelated Pull."""
    url_slot(world)
    pulls: list[FailingPulls] = []

    def wrap(store: ModelStore) -> FailingPulls:
        pulls.append(FailingPulls(store))
        return pulls[0]

    async with hal0d(world, wrap) as daemon:
        await daemon.supervisor.load("chat")
        view = await daemon.until("chat", lambda v: v.state is SlotState.ERROR)
        assert view.phase is PullPhase.FAILED
        assert "the pull failed unexpectedly (RuntimeError)" in view.last_error
        assert any(
            r.levelno >= logging.ERROR and r.exc_info and "disk on fire" in str(r.exc_info[1])
            for r in caplog.records
        ), caplog.text
        pulls[0].broken = False
        await daemon.supervisor.pull("chat")
        view = await daemon.until("chat", lambda v: v.phase is PullPhase.DONE)
        assert view.state is SlotState.OFFLINE
        assert world.units.jobs == []
