"""SIGTERM while a pull is blocked on a server that has gone silent: hal0d shuts the
connection down (the server sees it close), stops and exits 0, instead of waiting in a read
until systemd's stop timeout kills it."""

import hashlib
import os
import signal
import subprocess
from pathlib import Path

from tests.bus.harness import busctl, start_daemon, wait_for_property, write_config
from tests.support.faultserver import Fault, FaultServer

SIZE = 1 << 20
HANG_GUARD = 60  # seconds; reached only if hal0d does not stop
SLOT = "/org/hal0/Manager1/slot/big"


def test_sigterm_during_a_blocked_pull_exits_0(
    bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> None:
    polkit[0].write_text("{}")
    model = os.urandom(SIZE)
    with FaultServer() as server:
        server.serve("/model.gguf", model)
        server.script(Fault(silent_after=64 << 10))
        config, state = tmp_path / "etc", tmp_path / "state"
        slot = {
            "url": server.url("/model.gguf"),
            "sha256": hashlib.sha256(model).hexdigest(),
            "size": SIZE,
            "allow_http": True,
        }
        write_config(config, state, {"big": slot})
        daemon = start_daemon(bus_address, config, tmp_path)
        try:
            busctl(bus_address, "call", "org.hal0.Manager1", SLOT, "org.hal0.Slot1", "Pull")
            assert server.silent.wait(HANG_GUARD)
            wait_for_property(
                bus_address, SLOT, "org.hal0.Slot1", "Phase", accept=lambda v: v == 's "download"'
            )

            daemon.process.send_signal(signal.SIGTERM)

            try:
                code = daemon.process.wait(timeout=HANG_GUARD)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"hal0d ignored SIGTERM:\n{daemon.log()}") from None
            assert code == 0, daemon.log()
            assert server.log[0].client_closed.wait(HANG_GUARD)
        finally:
            daemon.stop()
            daemon.notify.close()
