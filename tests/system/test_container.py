"""The harness itself: systemd as PID 1, commands inside, the project laid out as a package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.system.harness.container import Container
from tests.system.harness.systemd import Systemd

pytestmark = pytest.mark.timeout(60)

DEBIAN_RUNTIME = {
    "dbus_fast": "1.84.2",
    "httpx": "0.23.3",
    "tomlkit": "0.11.7",
    "cryptography": "38.0.4",
    "sdnotify": "0.3.1",
}


def test_pid1_inside_is_systemd(container: Container) -> None:
    assert container.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    # Seen from the host, the container's init is the nspawn leader, running the rootfs's systemd.
    assert Path(f"/proc/{container.leader}/comm").read_text().strip() == "systemd"
    assert str(Path(f"/proc/{container.leader}/exe").readlink()).endswith("/lib/systemd/systemd")


async def test_host_reaches_systemd_over_the_container_bus(container: Container) -> None:
    async with await Systemd.connect(container.bus_address) as systemd:
        assert str(await systemd.manager_property("Version")).startswith("252")
        assert await systemd.manager_property("SystemState") == "running"
        assert await systemd.manager_property("Virtualization") == "systemd-nspawn"


def test_commands_run_as_an_unprivileged_user(container: Container) -> None:
    container.ensure_user("alice")
    assert container.run("id", "-un", user="alice").stdout.strip() == "alice"
    assert container.run("id", "-u", user="alice").stdout.strip() != "0"
    # polkit inside judges the container process: alice may not start units.
    denied = container.run(
        "busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager", "StartUnit", "ss", "dbus.service", "replace",
        user="alice", check=False,
    )  # fmt: skip
    assert denied.returncode != 0
    assert (
        "Interactive authentication required" in denied.stderr or "Access denied" in denied.stderr
    )


def test_project_is_installed_as_a_package_would_lay_it_out(container: Container) -> None:
    assert container.path("/usr/lib/python3/dist-packages/hal0d/contract.py").is_file()
    bus_name = container.run(
        "python3",
        "-c",
        "import hal0d.contract as c; print(c.BUS_NAME)",
        env={"PYTHONSAFEPATH": "1"},
    ).stdout.strip()
    assert bus_name == "org.hal0.Manager1"
    for script in ("hal0d", "hal0ctl"):
        assert os.access(container.path(f"/usr/bin/{script}"), os.X_OK)


def test_runtime_dependencies_inside_are_debians(container: Container) -> None:
    code = (
        "import importlib.metadata as m, sys\n"
        "for name in sys.argv[1:]: print(name, m.version(name.replace('_', '-')))\n"
    )
    out = container.run("python3", "-c", code, *DEBIAN_RUNTIME).stdout
    found = dict(line.split() for line in out.splitlines())
    assert found == DEBIAN_RUNTIME


def test_journal_is_readable(container: Container) -> None:
    container.run("systemd-cat", "-t", "hal0-test-marker", "echo", "marker-7f3a")
    assert (
        "marker-7f3a" in container.run("journalctl", "-t", "hal0-test-marker", "-o", "cat").stdout
    )
