"""Bus tier fixtures: one private dbus-daemon per session, a fake polkit on it, and a fresh
hal0d per test reached through DBUS_SYSTEM_BUS_ADDRESS."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.harness import HERE, Daemon, daemon_env, start_bus, start_daemon, write_config

SLOT = {"url": "https://127.0.0.1:1/none.gguf", "sha256": "0" * 64, "size": 1024}


@pytest.fixture(scope="session")
def bus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bus")


@pytest.fixture(scope="session")
def bus_address(bus_dir: Path) -> Iterator[str]:
    for tool in ("dbus-daemon", "busctl", "gdbus", "dbus-monitor"):
        assert shutil.which(tool), f"{tool} is missing (requirements/apt-bus.txt)"
    process, address = start_bus(bus_dir)
    yield address
    process.terminate()
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


@pytest.fixture(scope="session")
def polkit(bus_address: str, bus_dir: Path) -> Iterator[tuple[Path, Path]]:
    rules, log = bus_dir / "polkit-rules.json", bus_dir / "polkit-log.jsonl"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "fake_polkit.py"), str(rules), str(log)],
        env=daemon_env(bus_address, None),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    yield rules, log
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "etc"
    write_config(directory, tmp_path / "state", {"alpha": SLOT, "b-2_x": SLOT})
    return directory


@pytest.fixture
def daemon(
    bus_address: str, polkit: tuple[Path, Path], config_dir: Path, tmp_path: Path
) -> Iterator[Daemon]:
    rules, _ = polkit
    rules.write_text("{}")
    running = start_daemon(bus_address, config_dir, tmp_path)
    yield running
    running.stop()
    running.notify.close()
