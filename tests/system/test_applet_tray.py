"""hal0-applet in a real tray while the real hal0d in the container takes a slot from pulling
to ready: the one transition the bus tier cannot reach, having no systemd to start the slot.

The applet runs on the host, on a host desktop's session bus (Xvfb, xfce4-panel's systray
plugin as the StatusNotifierItem host, tests/bus/desktop.py) and on the container's system bus,
where host root is root. The slot pulls the tiny generated model from a loopback server that
holds the second half back until the test releases it, then loads it with the real
hal0-slot@ unit and llama-server. dbus-monitor on the session bus shows the host's side: the
item registers, and the panel re-reads it after each New* signal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal0d.applet import view
from tests.bus.desktop import desktop
from tests.bus.harness import Monitor, busctl
from tests.support.tray import ITEM, Applet, GatedServer, after, host_rereads
from tests.system.conftest import Model, free_port
from tests.system.harness.container import LLAMA_DIR, Container

# Only the full tier's release: nothing here depends on the systemd version beyond what
# test_daemon_slots already covers on trixie.
pytestmark = pytest.mark.timeout(300)  # a desktop, a panel, a pull and a load on a shared machine
DAEMON = "hal0d.service"
SLOT = "chat"
MODELS = "/var/lib/hal0/models"
MANAGER = ("org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1")


@pytest.fixture
def server(tiny_model: Model) -> Iterator[GatedServer]:
    running = GatedServer(tiny_model.host_path.read_bytes())
    yield running
    running.close()


@pytest.fixture
def daemon(container: Container, tiny_model: Model, server: GatedServer) -> Iterator[None]:
    """hal0d.service with one slot whose model is not in the store yet (so Pull downloads it
    from ``server``)."""
    slots_dir = container.path("/etc/hal0/slots")
    for old in slots_dir.glob("*.toml") if slots_dir.exists() else ():
        old.unlink()
    container.write_file(
        "/etc/hal0/hal0.toml", f'llama_server = "{LLAMA_DIR}/llama-server"\nidle_after = "1h"\n'
    )
    container.write_file(
        f"/etc/hal0/slots/{SLOT}.toml",
        f'url = "{server.url}"\nsha256 = "{tiny_model.sha256}"\nsize = {tiny_model.size}\n'
        f"allow_http = true\nport = {free_port()}\nthreads = 1\ncontext = 512\n",
    )
    container.run("systemd-tmpfiles", "--create")
    stored = container.path(f"{MODELS}/{tiny_model.sha256}.gguf")
    stored.unlink(missing_ok=True)
    container.run("systemctl", "restart", DAEMON, timeout=60)
    yield
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    container.run("systemctl", "stop", f"hal0-slot@{SLOT}.service", check=False, timeout=120)
    container.run("systemctl", "reset-failed", f"hal0-slot@{SLOT}.service", check=False)
    (slots_dir / f"{SLOT}.toml").unlink(missing_ok=True)


def _mark(host: Monitor) -> int:
    return len(host.wait_for(lambda _: True))


def _reread_after_signal(host: Monitor, mark: int, signal: str) -> None:
    """The item sent ``signal`` after ``mark``, and the panel read the item after it."""
    text = host.wait_for(lambda t: after(t, mark, f"member={signal}\n"))
    emitted = text.index(f"member={signal}\n", mark)
    host.wait_for(lambda t: host_rereads(t, emitted))


def test_tray_follows_a_slot_from_pulling_to_ready(
    container: Container, daemon: None, server: GatedServer, tmp_path: Path
) -> None:
    address = container.bus_address
    with desktop(tmp_path / "desktop") as session:
        host = Monitor(session.address)
        applet = Applet(session, address, tmp_path / "applet.log")
        try:
            # The item registers with the panel, which reads it; the slot is offline.
            text = host.wait_for(lambda t: "member=StatusNotifierItemRegistered" in t)
            host.wait_for(lambda t: host_rereads(t, len(text)))
            applet.wait(host, "NewToolTip", lambda: applet.tooltip() == f"{SLOT}: offline")
            assert applet.get(*ITEM, "IconName") == view.ICON_IDLE

            # Pulling, held half-way by the server: tooltip and icon say so, the panel re-reads.
            mark = _mark(host)
            busctl(address, "call", *MANAGER, "Pull", "s", SLOT)
            pulling = re.compile(rf"{SLOT}: pulling \d+ %(, \d+ MB/s)?")
            applet.wait(host, "NewToolTip", lambda: bool(pulling.fullmatch(applet.tooltip())))
            assert applet.get(*ITEM, "IconName") == view.ICON_BUSY
            _reread_after_signal(host, mark, "NewToolTip")
            _reread_after_signal(host, mark, "NewIcon")

            server.gate.set()
            applet.wait(host, "NewToolTip", lambda: applet.tooltip() == f"{SLOT}: offline")

            # Load: the real slot unit starts llama-server; the tray shows ready.
            mark = _mark(host)
            busctl(address, "call", *MANAGER, "Load", "s", SLOT)
            applet.wait(host, "NewToolTip", lambda: applet.tooltip() == f"{SLOT}: ready")
            assert applet.get(*ITEM, "IconName") == view.ICON_UP
            assert applet.get(*ITEM, "Status") == "Active"
            _reread_after_signal(host, mark, "NewToolTip")
            _reread_after_signal(host, mark, "NewIcon")
            assert applet.process.poll() is None
        finally:
            applet.stop()
            host.stop()
