"""Cancel over the bus: a pull from a slow loopback server (real model store) is cancelled by a
busctl call; the slot's Phase ends `cancelled`, the partial stays for a later pull to resume
from, nothing reaches the model's final path, and a second Pull finishes the model."""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from tests.bus.harness import (
    ThrottledServer,
    busctl,
    start_daemon,
    wait_for_property,
    write_config,
)

SIZE = 8 << 20
RATE = 2 << 20  # ~4 s for the whole file: time enough to cancel in the middle
NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"
SLOT = "/org/hal0/Manager1/slot/big"


def wait_for(address: str, prop: str, accept: Callable[[str], bool]) -> str:
    return wait_for_property(address, SLOT, "org.hal0.Slot1", prop, accept=accept)


def test_cancel_stops_a_pull_and_keeps_the_partial(
    bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> None:
    polkit[0].write_text("{}")
    model = os.urandom(SIZE)
    sha256 = hashlib.sha256(model).hexdigest()
    server = ThrottledServer(model, RATE)
    config, state = tmp_path / "etc", tmp_path / "state"
    slot = {"url": server.url, "sha256": sha256, "size": SIZE, "allow_http": True}
    write_config(config, state, {"big": slot})
    daemon = start_daemon(bus_address, config, tmp_path)
    try:
        busctl(bus_address, "call", NAME, SLOT, "org.hal0.Slot1", "Pull")
        wait_for(bus_address, "BytesDone", lambda value: int(value.split()[1]) >= 1 << 20)

        busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "Cancel", "s", "big")

        assert wait_for(bus_address, "Phase", lambda v: v != 's "download"') == 's "cancelled"'
        partials = list((state / "models" / ".partial").glob("*.part"))
        assert len(partials) == 1, partials
        assert 0 < partials[0].stat().st_size < SIZE
        final = state / "models" / f"{sha256}.gguf"
        assert not final.exists()

        busctl(bus_address, "call", NAME, SLOT, "org.hal0.Slot1", "Pull")
        assert wait_for(bus_address, "Phase", lambda v: v in ('s "done"', 's "failed"')) == (
            's "done"'
        ), daemon.log()
        assert final.read_bytes() == model
    finally:
        daemon.stop()
        daemon.notify.close()
        server.close()
