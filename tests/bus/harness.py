"""Processes the bus tier runs for real: a private dbus-daemon, the fake polkit authority,
hal0d itself (with a real AF_UNIX datagram NOTIFY_SOCKET) and a throttled HTTP server."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_message_size">33554432</limit>
</busconfig>
"""


def start_bus(directory: Path) -> tuple[subprocess.Popen[str], str]:
    config = directory / "bus.conf"
    path = directory / "bus.socket"
    config.write_text(BUS_CONFIG.format(socket=path))
    process = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    assert address.startswith("unix:"), address
    return process, address


class NotifySocket:
    """A real AF_UNIX datagram socket, as systemd's NOTIFY_SOCKET is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[dict[str, str]] = []

    def wait_for(self, key: str, value: str = "1", timeout: float = 20.0) -> dict[str, str]:
        """The first unseen datagram carrying KEY=VALUE; earlier ones are kept in .messages."""
        deadline = time.monotonic() + timeout
        seen = len(self.messages)
        for message in self.messages[self._cursor :]:
            self._cursor += 1
            if message.get(key) == value:
                return message
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append(fields)
            self._cursor = len(self.messages)
            if fields.get(key) == value:
                return fields
        raise AssertionError(f"no {key}={value} after {seen} datagrams: {self.messages}")

    _cursor = 0

    def close(self) -> None:
        self.sock.close()


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    notify: NotifySocket
    config_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def daemon_env(address: str, notify: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    env.pop("WATCHDOG_USEC", None)
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify)
    else:
        env.pop("NOTIFY_SOCKET", None)
    return env


def start_daemon(
    address: str, config_dir: Path, workdir: Path, extra_env: dict[str, str] | None = None
) -> Daemon:
    notify = NotifySocket(workdir / "notify.sock")
    log_path = workdir / "hal0d.log"
    env = daemon_env(address, notify.path) | (extra_env or {})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hal0d", "run", "--allow-root", "--config-dir", str(config_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    daemon = Daemon(process, notify, config_dir, log_path, env)
    try:
        notify.wait_for("READY")
    except AssertionError:
        daemon.stop()
        raise AssertionError(f"hal0d never sent READY=1; its log:\n{daemon.log()}") from None
    return daemon


def write_config(config_dir: Path, state: Path, slots: dict[str, dict[str, Any]]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "hal0.toml").write_text(
        f'models_dir = "{state / "models"}"\nstate_dir = "{state}"\n'
        f'keys_dir = "{state / "keys"}"\nllama_server = "/bin/true"\n'
    )
    slots_dir = config_dir / "slots"
    slots_dir.mkdir(exist_ok=True)
    for name, values in slots.items():
        write_slot(config_dir, name, values)


def write_slot(config_dir: Path, name: str, values: dict[str, Any]) -> None:
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    (config_dir / "slots" / f"{name}.toml").write_text("\n".join(lines) + "\n")


def busctl(address: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["busctl", f"--address={address}", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=30,
    )


def wait_for_property(
    address: str,
    path: str,
    interface: str,
    prop: str,
    *,
    accept: Callable[[str], bool],
    within: float = 60,
) -> str:
    """Poll a property with busctl until ``accept`` takes its value (``s "done"``); return it."""
    deadline = time.monotonic() + within
    value = ""
    while time.monotonic() < deadline:
        value = busctl(address, "get-property", "org.hal0.Manager1", path, interface, prop)
        value = value.stdout.strip()
        if accept(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"{prop} of {path} is still {value}")


class Monitor:
    """dbus-monitor on a bus, started only once it is a monitor: when BecomeMonitor takes
    effect, dbus-daemon takes its unique name away and dbus-monitor prints that NameLost."""

    def __init__(self, address: str, *args: str, within: float = 20) -> None:
        self._process = subprocess.Popen(
            ["dbus-monitor", "--address", address, *args], stdout=subprocess.PIPE
        )
        assert self._process.stdout is not None
        self._fd = self._process.stdout.fileno()
        self._seen = b""
        deadline = time.monotonic() + within
        while b"NameLost" not in self._seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                self._process.kill()
                raise RuntimeError(f"dbus-monitor did not become a monitor: {self._seen!r}")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise RuntimeError(f"dbus-monitor exited: {self._seen!r}")
            self._seen += chunk

    def wait_for(self, seen: Callable[[str], bool], within: float = 60) -> str:
        """Read its output until ``seen(everything printed so far)``; return that text."""
        deadline = time.monotonic() + within
        while not seen(self._seen.decode(errors="replace")):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                raise AssertionError(f"dbus-monitor did not show it within {within} s")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise AssertionError(f"dbus-monitor exited: {self._seen[-2000:]!r}")
            self._seen += chunk
        return self._seen.decode(errors="replace")

    def stop(self) -> str:
        """Everything it printed."""
        self._process.terminate()
        rest, _ = self._process.communicate(timeout=10)
        return (self._seen + rest).decode()


class ThrottledServer:
    """Serves one file over loopback HTTP at a fixed rate (bytes per second)."""

    def __init__(self, data: bytes, rate: int) -> None:
        self.data = data
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(served.data)))
                self.end_headers()
                chunk = 64 << 10
                start = time.monotonic()
                for offset in range(0, len(served.data), chunk):
                    due = start + offset / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    try:
                        self.wfile.write(served.data[offset : offset + chunk])
                    except OSError:
                        return

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/model.gguf"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        for line in path.read_text().splitlines():
            yield json.loads(line)
