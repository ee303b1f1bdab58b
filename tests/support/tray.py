"""The applet under test and the file it pulls, shared by the bus and system tiers' tray tests:
hal0-applet on a desktop's session bus (tests/bus/desktop.py) and some system bus, its item
read back with busctl, and the host's side of the protocol as dbus-monitor prints it."""

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.bus.desktop import Desktop
from tests.bus.harness import Monitor, busctl

ITEM = ("/StatusNotifierItem", "org.kde.StatusNotifierItem")


class GatedServer:
    """Serves one file over loopback HTTP: the first half at once, the rest only after
    ``release()`` — so the test, not a clock, decides how long the pull stays in progress."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.gate = threading.Event()
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    served.gate.wait()
                    self.wfile.write(data[len(data) // 2 :])
                except OSError:
                    return

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.gguf"

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Applet:
    """hal0-applet on the desktop's session bus and the tier's system bus; its item read back
    with busctl, and waits that end on the item's own New* signals."""

    def __init__(self, session: Desktop, system_address: str, log: Path) -> None:
        self.desktop = session
        env = session.env | {"DBUS_SYSTEM_BUS_ADDRESS": system_address}
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hal0d.applet"], env=env, stdout=out, stderr=out
            )
        self.log = log
        self.service = f"org.kde.StatusNotifierItem-{self.process.pid}-1"

    def get(self, path: str, interface: str, prop: str) -> Any:
        out = busctl(
            self.desktop.address,
            "--json=short",
            "get-property",
            self.service,
            path,
            interface,
            prop,
        ).stdout
        return json.loads(out)["data"]

    def call(self, path: str, interface: str, member: str, *args: str) -> Any:
        done = busctl(
            self.desktop.address,
            "--json=short",
            "--",
            "call",
            self.service,
            path,
            interface,
            member,
            *args,
            check=False,
        )
        assert done.returncode == 0, f"{member}: {done.stderr}"
        return json.loads(done.stdout)["data"] if done.stdout.strip() else None

    def tooltip(self) -> str:
        return str(self.get(*ITEM, "ToolTip")[3])

    def wait(self, monitor: Monitor, signal: str, accept: Callable[[], bool]) -> None:
        """Until accept() holds, re-checking after each new ``signal`` of the item."""
        seen = monitor.wait_for(lambda _: True).count(f"member={signal}")
        while not accept():
            monitor.wait_for(lambda text, n=seen: text.count(f"member={signal}") > n)
            seen += 1

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def after(text: str, offset: int, pattern: str) -> bool:
    return re.search(pattern, text[offset:]) is not None


def host_rereads(text: str, offset: int) -> bool:
    """A method call from the panel to the item's properties after ``offset``."""
    return after(
        text,
        offset,
        r"path=/StatusNotifierItem; interface=org.freedesktop.DBus"
        r".Properties; member=Get",
    )
