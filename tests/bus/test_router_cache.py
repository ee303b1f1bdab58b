"""Wake on the bus, and the router's slot cache following the real hal0d.

hal0d runs as a real process on the private bus (with the fake polkit authority of this tier);
the router's `SlotCache` is the real one, connected as the router connects.
"""

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from hal0d.router.cache import SlotCache
from tests.bus.conftest import SLOT
from tests.bus.harness import Daemon, busctl, iter_lines, start_daemon, write_slot

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"


def test_wake_asks_for_its_own_action_and_never_pulls(
    daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]
) -> None:
    _, log = polkit
    result = busctl(
        bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "Wake", "s", "alpha",
        check=False,
    )  # fmt: skip
    assert "hal0ctl pull alpha" in result.stderr, result.stderr
    asked = list(iter_lines(log))[-1]
    assert asked["action"] == "org.hal0.slot.wake"
    phase = busctl(
        bus_address, "get-property", NAME, f"{MANAGER}/slot/alpha", "org.hal0.Slot1", "Phase"
    ).stdout.strip()
    assert phase == 's ""'  # no pull was started


def test_wake_needs_polkit(daemon: Daemon, bus_address: str, polkit: tuple[Path, Path]) -> None:
    rules, _ = polkit
    rules.write_text(json.dumps({"deny_all": True}))
    result = subprocess.run(
        ["gdbus", "call", "--address", bus_address, "--dest", NAME, "--object-path", MANAGER,
         "--method", "org.hal0.Manager1.Wake", "alpha"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "org.hal0.Error.NotAuthorized" in result.stderr, result.stderr


async def until(cache: SlotCache, check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await cache.changed()

    await asyncio.wait_for(wait(), 30)


@pytest.mark.timeout(60)
async def test_the_cache_follows_hal0d_and_keeps_slots_while_it_is_away(
    daemon: Daemon, bus_address: str, tmp_path: Path
) -> None:
    bus = await MessageBus(bus_address=bus_address).connect()
    cache = SlotCache(bus)
    await cache.start()
    try:
        assert cache.hal0d_present
        assert sorted(cache.slots()) == ["alpha", "b-2_x"]
        assert cache.slot("alpha").state == "offline"  # type: ignore[union-attr]
        write_slot(daemon.config_dir, "gamma", {**SLOT, "aliases": ["gpt-g"]})
        busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "Reload")
        await until(cache, lambda: cache.resolve("gpt-g") is not None)
        assert cache.resolve("gpt-g").name == "gamma"  # type: ignore[union-attr]

        daemon.stop()  # hal0d removes its objects, then leaves the bus: they are kept
        await until(cache, lambda: not cache.hal0d_present)
        assert sorted(cache.slots()) == ["alpha", "b-2_x", "gamma"]

        (daemon.config_dir / "slots" / "b-2_x.toml").unlink()
        (tmp_path / "again").mkdir()
        again = start_daemon(bus_address, daemon.config_dir, tmp_path / "again")
        try:
            await until(cache, lambda: cache.hal0d_present and "b-2_x" not in cache.slots())
            assert sorted(cache.slots()) == ["alpha", "gamma"]
        finally:
            again.stop()
            again.notify.close()
    finally:
        bus.disconnect()
