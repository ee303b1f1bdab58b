"""The harness itself: systemd as PID 1, commands inside, the built package installed.

Release-sensitive as a whole: each test checks what the release under test provides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.system.conftest import RELEASE
from tests.system.harness.container import Container
from tests.system.harness.systemd import Systemd

pytestmark = [pytest.mark.timeout(60), pytest.mark.release_sensitive]


def test_pid1_inside_is_systemd(container: Container) -> None:
    assert container.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    # Seen from the host, the container's init is the nspawn leader, running the rootfs's systemd.
    assert Path(f"/proc/{container.leader}/comm").read_text().strip() == "systemd"
    assert str(Path(f"/proc/{container.leader}/exe").readlink()).endswith("/lib/systemd/systemd")


async def test_host_reaches_systemd_over_the_container_bus(container: Container) -> None:
    async with await Systemd.connect(container.bus_address) as systemd:
        assert str(await systemd.manager_property("Version")).startswith(RELEASE.systemd)
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


def test_the_built_package_is_installed(container: Container, package: Path) -> None:
    status = container.run("dpkg-query", "-W", "-f=${Status} ${Version}", "hal0d").stdout
    version = package.name.split("_")[1]
    assert status == f"install ok installed {version}"
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
        "print('python', '.'.join(map(str, sys.version_info[:2])))\n"
        "for name in sys.argv[1:]: print(name, m.version(name.replace('_', '-')))\n"
    )
    out = container.run("python3", "-c", code, *RELEASE.runtime).stdout
    found = dict(line.split() for line in out.splitlines())
    assert found == {"python": RELEASE.python, **RELEASE.runtime}


def test_journal_is_readable(container: Container) -> None:
    container.run("systemd-cat", "-t", "hal0-test-marker", "echo", "marker-7f3a")
    assert (
        "marker-7f3a" in container.run("journalctl", "-t", "hal0-test-marker", "-o", "cat").stdout
    )
