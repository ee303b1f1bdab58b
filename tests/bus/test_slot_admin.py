"""`hal0ctl slot` with a real hal0d on the private bus: the edit, then hal0d's Reload.

An added slot appears on the bus as soon as hal0ctl returns; a refused edit never reaches
hal0d (no `org.hal0.config.reload` question to polkit); a catalog entry is resolved through
hal0d's `ResolveModel` (the catalog file is gone by then, so a read-only check of the disk
could not have found it). Slot units and pulls are the system tier's
(tests/system/test_slot_admin.py); the editing itself is tests/unit/test_hal0ctl_slot.py.
"""

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.conftest import SLOT
from tests.bus.harness import Daemon, busctl, start_daemon, write_config

SHA = "cd" * 32
URL = "https://127.0.0.1:1/gamma.gguf"
RELOAD = "org.hal0.config.reload"


def hal0ctl(address: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hal0d.cli.ctl", *args[:2], "--config-dir", str(config), *args[2:]],
        capture_output=True,
        text=True,
        env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address),
        timeout=60,
    )


def slot_names(address: str) -> list[str]:
    out = busctl(address, "--json=short", "call", "org.hal0.Manager1", "/org/hal0/Manager1",
                 "org.hal0.Manager1", "ListSlots").stdout  # fmt: skip
    return sorted(name for name, *_ in json.loads(out)["data"][0])


def reloads(polkit_log: Path) -> int:
    lines = polkit_log.read_text().splitlines() if polkit_log.exists() else []
    return sum(1 for line in lines if json.loads(line).get("action") == RELOAD)


@pytest.fixture
def catalog_daemon(
    bus_address: str, polkit: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[Daemon, Path, Path]]:
    """hal0d holding a local catalog (verify = "checksum") that lists tiny-q4."""
    polkit[0].write_text("{}")
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'serial = 1\n[models.tiny-q4]\nurl = "{URL}"\nsha256 = "{SHA}"\nsize = 4096\n'
    )
    config = tmp_path / "etc"
    write_config(config, tmp_path / "state", {"alpha": SLOT})
    with (config / "hal0.toml").open("a") as file:
        file.write(f'[[catalogs]]\nname = "local"\nurl = "{catalog}"\nverify = "checksum"\n')
    daemon = start_daemon(bus_address, config, tmp_path)
    yield daemon, config, catalog
    daemon.stop()
    daemon.notify.close()


def test_an_added_slot_is_on_the_bus_when_hal0ctl_returns(
    daemon: Daemon, bus_address: str, config_dir: Path, polkit: tuple[Path, Path]
) -> None:
    asked = reloads(polkit[1])  # the polkit log is the session's
    result = hal0ctl(bus_address, config_dir, "slot", "add", "gamma", URL, "--sha256", SHA,
                     "--size", "4096", "--threads", "1")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hal0d reloaded" in result.stdout
    assert slot_names(bus_address) == ["alpha", "b-2_x", "gamma"]
    assert reloads(polkit[1]) == asked + 1


def test_a_refused_set_never_reaches_hal0d(
    daemon: Daemon, bus_address: str, config_dir: Path, polkit: tuple[Path, Path]
) -> None:
    file = config_dir / "slots" / "alpha.toml"
    before = file.read_bytes()
    asked = reloads(polkit[1])  # the polkit log is the session's
    result = hal0ctl(bus_address, config_dir, "slot", "set", "alpha", "port=0")
    assert result.returncode == 78
    assert "alpha.toml: port: 0 is out of range" in result.stdout
    assert file.read_bytes() == before
    assert reloads(polkit[1]) == asked
    result = hal0ctl(bus_address, config_dir, "slot", "set", "alpha", "threads=3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hal0d reloaded" in result.stdout
    assert reloads(polkit[1]) == asked + 1


def test_a_catalog_entry_is_resolved_through_hal0d(
    catalog_daemon: tuple[Daemon, Path, Path], bus_address: str
) -> None:
    _daemon, config, catalog = catalog_daemon
    catalog.unlink()  # hal0d holds it; the disk no longer does
    result = hal0ctl(bus_address, config, "slot", "add", "cat", "local/tiny-q4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"model local/tiny-q4: {URL}, sha256 {SHA}" in result.stdout
    assert tomllib.loads((config / "slots" / "cat.toml").read_text()) == {"model": "local/tiny-q4"}
