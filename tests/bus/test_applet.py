"""hal0-applet against the real hal0d (on the tier's private system bus) and a real
StatusNotifierItem host: xfce4-panel's systray plugin on Xvfb, with its own session bus.

The session bus is watched with dbus-monitor, the way the host's side of the protocol is
seen: the item registers, the host re-reads it after the New* signals, a right-click makes
the host fetch the menu, and a menu event turns into a Load call on the system bus.
The bus tier has no systemd, so a Load ends in the slot's error state (hal0d cannot start
the unit): that is the failure the applet must show and notify with LastError.
"""

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hal0d.applet import view
from tests.bus.desktop import Desktop, desktop
from tests.bus.harness import Daemon, Monitor, busctl, start_daemon, write_config
from tests.support.tray import ITEM, Applet, GatedServer, after, host_rereads

DOCS = Path(__file__).parents[2] / "docs"
SHOTS = Path(__file__).parents[2] / "build" / "results"
SIZE = 4 << 20
ICON_THEME = "/usr/share/icons/Adwaita"


def _panel_window(session: Desktop) -> tuple[int, int]:
    """Centre of the panel's window at the top left of the screen."""
    for window in session.run("xdotool", "search", "--class", "xfce4-panel").stdout.split():
        shell = session.run("xdotool", "getwindowgeometry", "--shell", window).stdout
        geometry = dict(line.split("=", 1) for line in shell.split())
        if geometry["X"] == "0" and geometry["Y"] == "0":
            return int(geometry["WIDTH"]) // 2, int(geometry["HEIGHT"]) // 2
    raise AssertionError("no xfce4-panel window at the top left")


def _load_id(layout: list[Any], slot: str) -> int:
    for child in layout[1][2]:
        item_id, props, _ = child["data"]
        if props.get("label", {}).get("data") == f"Load {slot}":
            return int(item_id)
    raise AssertionError(f"no 'Load {slot}' entry in {layout}")


@pytest.fixture
def server() -> Iterator[GatedServer]:
    running = GatedServer(os.urandom(SIZE))
    yield running
    running.close()


def _notified(text: str, offset: int, summary: str) -> bool:
    """Whether a Notify call after ``offset`` carried SUMMARY (dbus-monitor prints one
    message as a header line and its indented arguments)."""
    blocks = re.split(r"\n(?=\S)", text[offset:])
    return any("member=Notify" in b and f'string "{summary}"' in b for b in blocks)


@pytest.fixture
def config_dir(server: GatedServer, tmp_path: Path) -> Path:
    """Two slots served by the gated server: chat with the model's hash, bad with a wrong
    one (its pull ends in the error state, with LastError)."""
    good = {
        "url": server.url,
        "sha256": hashlib.sha256(server.data).hexdigest(),
        "size": SIZE,
        "allow_http": True,
    }
    write_config(
        tmp_path / "etc", tmp_path / "state", {"chat": good, "bad": good | {"sha256": "0" * 64}}
    )
    return tmp_path / "etc"


MANAGER = ("org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1")
MENU = ("/MenuBar", "com.canonical.dbusmenu")
IDLE = "bad: offline\nchat: offline"


@dataclass
class Tray:
    """The applet in the panel, and the two buses watched by dbus-monitor."""

    session: Desktop
    applet: Applet
    host: Monitor  # everything on the session bus
    system: Monitor  # calls to hal0d
    system_address: str

    def mark(self) -> int:
        return len(self.host.wait_for(lambda _: True))

    def host_shows(self, mark: int, pattern: str) -> None:
        self.host.wait_for(lambda t: after(t, mark, pattern))

    def pull(self, slot: str) -> None:
        busctl(self.system_address, "call", *MANAGER, "Pull", "s", slot)


def _registers(tray: Tray) -> None:
    """The item registers with the panel, and the panel reads it."""
    text = tray.host.wait_for(lambda t: "member=StatusNotifierItemRegistered" in t)
    tray.host.wait_for(lambda t: host_rereads(t, len(text)))
    tray.applet.wait(tray.host, "NewToolTip", lambda: tray.applet.tooltip() == IDLE)
    assert tray.applet.get(*ITEM, "IconName") == "network-idle"
    assert tray.applet.get(*ITEM, "Status") == "Active"


def _pulling(tray: Tray) -> None:
    """A new icon and tooltip, announced by New* signals and re-read by the host."""
    mark = tray.mark()
    tray.pull("chat")
    pulling = re.compile(r"bad: offline\nchat: pulling \d+ %(, \d+ MB/s)?")
    tray.applet.wait(
        tray.host, "NewToolTip", lambda: bool(pulling.fullmatch(tray.applet.tooltip()))
    )
    tray.host_shows(mark, "member=NewIcon")
    tray.host.wait_for(lambda t: host_rereads(t, mark))
    assert tray.applet.get(*ITEM, "IconName") == "network-receive"


def _right_click(tray: Tray) -> None:
    """A right-click on the icon: the panel asks for the menu and shows it (screenshot)."""
    x, y = _panel_window(tray.session)
    mark = tray.mark()
    tray.session.run("xdotool", "mousemove", str(x), str(y), "click", "3")
    tray.host_shows(mark, r"interface=com\.canonical\.dbusmenu; member=(AboutToShow|GetLayout)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    tray.session.screenshot(SHOTS / "applet.png")
    tray.session.run("xdotool", "key", "Escape")


def _pull_ends(tray: Tray, server: GatedServer) -> None:
    """The tooltip says so, and a notification tells the user."""
    mark = tray.mark()
    server.gate.set()
    tray.applet.wait(tray.host, "NewToolTip", lambda: tray.applet.tooltip() == IDLE)
    tray.host.wait_for(lambda t: _notified(t, mark, "chat: model pulled"))


def _menu_load(tray: Tray) -> None:
    """A menu event for "Load chat", as the panel sends for a click: hal0d gets Load.
    Without systemd on this bus hal0d refuses it, and a notification says why."""
    layout = tray.applet.call(*MENU, "GetLayout", "iias", "0", "-1", "0")
    mark = tray.mark()
    item = str(_load_id(layout, "chat"))
    tray.applet.call(*MENU, "Event", "isvu", item, "clicked", "s", "", "0")
    tray.system.wait_for(lambda t: 'member=Load\n   string "chat"' in t)
    tray.host.wait_for(lambda t: _notified(t, mark, "chat: Load refused"))


def _failure(tray: Tray) -> None:
    """A failed pull: NeedsAttention, the error icon, LastError in tooltip and notification."""
    mark = tray.mark()
    tray.pull("bad")
    tray.applet.wait(
        tray.host, "NewStatus", lambda: tray.applet.get(*ITEM, "Status") == "NeedsAttention"
    )
    assert tray.applet.get(*ITEM, "IconName") == "dialog-error"
    assert tray.applet.tooltip().startswith("bad: error (")
    tray.host.wait_for(lambda t: _notified(t, mark, "bad: failed"))
    tray.host.wait_for(lambda t: host_rereads(t, mark))


@pytest.mark.timeout(300)  # a desktop, a panel and hal0d twice, on a shared machine
def test_applet_in_a_real_tray(
    bus_address: str,
    daemon: Daemon,
    server: GatedServer,
    tmp_path: Path,
) -> None:
    # The panel draws these from Debian's icon theme (requirements/apt-applet.txt), so the
    # screenshot shows the applet's own icon and not a missing-icon glyph.
    icons = (view.ICON_NOT_RUNNING, view.ICON_IDLE, view.ICON_BUSY, view.ICON_UP, view.ICON_ERROR)
    for name in icons:
        assert list(Path(ICON_THEME).glob(f"*/legacy/{name}.png")), f"{name} not in Adwaita"
    with desktop(tmp_path / "desktop") as session:
        host = Monitor(session.address)
        system = Monitor(bus_address, "type='method_call',interface='org.hal0.Manager1'")
        applet = Applet(session, bus_address, tmp_path / "applet.log")
        tray = Tray(session, applet, host, system, bus_address)
        restarted: Daemon | None = None
        try:
            _registers(tray)
            _pulling(tray)
            _right_click(tray)
            _pull_ends(tray, server)
            _menu_load(tray)
            _failure(tray)

            # hal0d goes away and comes back: the applet follows without a restart.
            daemon.stop()
            applet.wait(host, "NewToolTip", lambda: applet.tooltip() == "hal0d not running")
            assert applet.get(*ITEM, "IconName") == "network-offline"
            (tmp_path / "again").mkdir()
            restarted = start_daemon(bus_address, daemon.config_dir, tmp_path / "again")
            applet.wait(host, "NewToolTip", lambda: applet.tooltip().endswith("chat: offline"))
            assert applet.process.poll() is None
        finally:
            applet.stop()
            host.stop()
            system.stop()
            if restarted is not None:
                restarted.stop()
                restarted.notify.close()
