"""`hal0ctl doctor` tells the five states of hal0d apart, each with its own exit status.

The container is brought into each state for real: hal0d running (and its per-slot checks),
the unit stopped, the unit failed (a broken hal0.toml and no restart), the bus name held by
a process that does not answer (a stopped process owning org.hal0.Manager1), and hal0d not
installed (its unit file and hal0ctl removed: doctor then runs from the host, over the
container's bus). Each test puts things back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.system.conftest import REPO, Model
from tests.system.hal0d_setup import configure, model_keys, place_model, write_hal0_toml
from tests.system.harness.container import Container

pytestmark = pytest.mark.timeout(180)
DAEMON = "hal0d.service"
# Owns org.hal0.Manager1 on the container's bus, says so, then stops itself: the name stays
# owned and nothing answers.
SQUATTER = """
import asyncio, os, signal
from dbus_fast import BusType, NameFlag
from dbus_fast.aio import MessageBus

async def main():
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    await bus.request_name("org.hal0.Manager1", NameFlag.DO_NOT_QUEUE)
    print("owned", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def installed(container: Container, tiny_model: Model) -> Iterator[Container]:
    tiny = model_keys("https://127.0.0.1:9/tiny.gguf", tiny_model.sha256, tiny_model.size)
    configure(container, {"chat": tiny})
    place_model(container, tiny_model.sha256, tiny_model.host_path.read_bytes())
    yield container
    container.run("systemctl", "stop", DAEMON, "hal0-slot@chat.service", check=False, timeout=60)
    container.run("systemctl", "reset-failed", DAEMON, "hal0-slot@chat.service", check=False)
    container.path("/etc/hal0/slots/chat.toml").unlink(missing_ok=True)


def doctor(container: Container) -> tuple[int, dict[str, object]]:
    result = container.run("hal0ctl", "doctor", "--json", check=False, timeout=60)
    return result.returncode, json.loads(result.stdout)


def doctor_text(container: Container) -> tuple[int, str]:
    result = container.run("hal0ctl", "doctor", check=False, timeout=60)
    return result.returncode, result.stdout


def test_running_with_per_slot_checks(installed: Container) -> None:
    installed.run("systemctl", "restart", DAEMON, timeout=60)
    installed.run("hal0ctl", "load", "chat", timeout=120)
    status, report = doctor(installed)
    assert report["daemon"] == "running", report
    assert status == 0, report
    findings = {(f["slot"], f["check"]): f for f in report["findings"]}  # type: ignore[union-attr]
    assert findings[("", "llama-server")]["verdict"] == "ok"
    assert findings[("chat", "config")]["verdict"] == "ok"
    assert findings[("chat", "model")]["verdict"] == "ok"
    assert "present" in findings[("chat", "model")]["message"]
    assert findings[("chat", "unit")]["message"] == "hal0-slot@chat.service: ready"
    assert findings[("chat", "health")]["verdict"] == "ok"
    status, text = doctor_text(installed)
    assert status == 0
    assert text.startswith("hal0d 0.1.0 is running and answering")


def test_stopped(installed: Container) -> None:
    installed.run("systemctl", "stop", DAEMON, timeout=60)
    status, text = doctor_text(installed)
    assert status == 3, text
    assert text == (
        "hal0d is installed but not running (hal0d.service: inactive); start it with "
        "`systemctl start hal0d.service` (at boot: `systemctl enable hal0d.service`)\n"
    )


def test_failed(installed: Container) -> None:
    installed.run("mkdir", "-p", "/run/systemd/system/hal0d.service.d")
    installed.run(
        "sh", "-c", "printf '[Service]\\nRestart=no\\n' >/run/systemd/system/hal0d.service.d/t.conf"
    )
    installed.daemon_reload()
    installed.write_file("/etc/hal0/hal0.toml", "port_range = 7\n")
    try:
        installed.run("systemctl", "start", DAEMON, check=False, timeout=60)
        status, text = doctor_text(installed)
        assert status == 6, text
        assert text.startswith(
            "hal0d.service failed (exit-code); see `journalctl -u hal0d.service`"
        )
    finally:
        write_hal0_toml(installed)
        installed.run("rm", "-rf", "/run/systemd/system/hal0d.service.d")
        installed.daemon_reload()
        installed.run("systemctl", "reset-failed", DAEMON)


def test_name_owned_but_not_answering(installed: Container) -> None:
    installed.run("systemctl", "stop", DAEMON, timeout=60)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=installed.bus_address)
    squatter = subprocess.Popen(
        [sys.executable, "-c", SQUATTER], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert squatter.stdout is not None
        assert squatter.stdout.readline().strip() == "owned"
        result = installed.run("hal0ctl", "doctor", "--timeout", "2", check=False, timeout=60)
        assert result.returncode == 7, result.stdout + result.stderr
        assert result.stdout.startswith("org.hal0.Manager1 is owned by process "), result.stdout
        assert "does not answer within 2 s" in result.stdout
    finally:
        squatter.send_signal(signal.SIGKILL)
        squatter.wait(timeout=10)
        if squatter.stdout is not None:
            squatter.stdout.close()


def test_not_installed_seen_from_the_host(installed: Container) -> None:
    installed.run("systemctl", "stop", DAEMON, timeout=60)
    installed.run(
        "rm", "-f", f"/usr/lib/systemd/system/{DAEMON}", "/usr/bin/hal0ctl", "/usr/bin/hal0d"
    )
    installed.daemon_reload()
    try:
        assert installed.run("sh", "-c", "command -v hal0ctl", check=False).returncode != 0
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=installed.bus_address)
        result = subprocess.run(
            [sys.executable, "-m", "hal0d.cli.ctl", "doctor"],
            capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 5, result.stdout + result.stderr
        assert result.stdout == (
            "hal0d is not installed: systemd has no hal0d.service; install the hal0d package\n"
        )
    finally:
        installed.install_project()
