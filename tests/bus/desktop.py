"""A real desktop for the applet test: Xvfb, a session dbus-daemon (service activation on, so
xfconfd starts as it does in a login session) and xfce4-panel, whose systray plugin is a real
StatusNotifierItem host. Nothing here is a fake."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
TOOLS = ("Xvfb", "xfce4-panel", "xdotool", "import", "gdbus", "dbus-monitor", "dbus-daemon")


@dataclass
class Desktop:
    env: dict[str, str]  # DISPLAY, DBUS_SESSION_BUS_ADDRESS and the XDG directories
    address: str  # the session bus
    panel_log: Path

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=True, timeout=60
        )

    def screenshot(self, path: Path) -> None:
        self.run("import", "-window", "root", str(path))


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on a free display; -displayfd writes its number once it accepts clients."""
    read, write = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "360x240x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), f"Xvfb did not start (exit {process.poll()})"
    return process, f":{number}"


@contextmanager
def desktop(root: Path) -> Iterator[Desktop]:
    for tool in TOOLS:
        assert shutil.which(tool), f"{tool} is missing (requirements/apt-applet.txt)"
    xdg = {
        name: root / name.lower()
        for name in (
            "HOME",
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "XDG_DATA_HOME",
            "XDG_RUNTIME_DIR",
        )
    }
    for directory in xdg.values():
        directory.mkdir(mode=0o700, parents=True)
    channel = xdg["XDG_CONFIG_HOME"] / "xfce4" / "xfconf" / "xfce-perchannel-xml"
    channel.mkdir(parents=True)
    shutil.copy(HERE / "desktop" / "xfce4-panel.xml", channel)
    xvfb, display = _start_xvfb()
    processes: list[subprocess.Popen[bytes]] = [xvfb]
    try:
        env = {
            **os.environ,
            **{k: str(v) for k, v in xdg.items()},
            "DISPLAY": display,
            "NO_AT_BRIDGE": "1",
        }
        session = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address"],
            env=env,
            stdout=subprocess.PIPE,
        )
        processes.append(session)
        assert session.stdout is not None
        address = session.stdout.readline().decode().strip()
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        panel_log = root / "xfce4-panel.log"
        with panel_log.open("wb") as log:
            processes.append(
                subprocess.Popen(["xfce4-panel"], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        running = Desktop(env, address, panel_log)
        running.run(
            "gdbus", "wait", "--session", "--timeout", "60", "org.kde.StatusNotifierWatcher"
        )
        yield running
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=20)
            if process.stdout is not None:
                process.stdout.close()
