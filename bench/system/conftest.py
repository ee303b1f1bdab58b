"""The in-container benchmarks run on the system tier's own fixtures (tests/system/conftest.py:
the booted container with hal0d installed, llama-server, the generated models), so they measure
exactly what the tier tests. ``stage`` configures and restarts the real hal0d.service there.

Run through `make bench` (bench/run.sh), never as part of `make test`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

import pytest

from tests.system.conftest import Model
from tests.system.harness.container import LLAMA_DIR, Container

pytest_plugins = ("tests.conftest", "tests.system.conftest")

DAEMON = "hal0d.service"
MODELS = PurePosixPath("/var/lib/hal0/models")
INSIDE = PurePosixPath("/usr/local/lib/hal0-bench")  # bench/inside/*.py, run by Debian's python3
PORTS = (20000, 20999)  # room for 256 slots


class Stage:
    """hal0d.service in the container, with the slots a measurement asks for."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.slots: dict[str, Model] = {}
        for script in (Path(__file__).parents[1] / "inside").glob("*.py"):
            container.write_file(INSIDE / script.name, script.read_text())

    def run(self, *argv: str, timeout: float = 120) -> str:
        return self.container.run(*argv, timeout=timeout).stdout

    def script(self, name: str, *args: str, timeout: float = 600) -> str:
        """One of bench/inside/*.py, run inside by Debian's python3 (isolated mode)."""
        return self.run("/usr/bin/python3", "-I", str(INSIDE / name), *args, timeout=timeout)

    def configure(self, slots: Mapping[str, Model], **settings: str) -> None:
        """Write hal0.toml and one file per slot (hal0d not restarted); place the models."""
        self.stop_slots()
        etc = self.container.path("/etc/hal0/slots")
        if etc.exists():
            for old in etc.glob("*.toml"):
                old.unlink()
        lines = [
            f'llama_server = "{LLAMA_DIR}/llama-server"',
            'idle_after = "1h"',
            f"port_range = [{PORTS[0]}, {PORTS[1]}]",
            *(f"{key} = {value}" for key, value in settings.items()),
        ]
        self.container.write_file("/etc/hal0/hal0.toml", "\n".join(lines) + "\n")
        self.container.run("systemd-tmpfiles", "--create")
        for name, model in slots.items():
            self.container.write_file(f"/etc/hal0/slots/{name}.toml", slot_file(model))
            self.place(model)
        self.slots = dict(slots)

    def place(self, model: Model) -> None:
        target = self.container.path(MODELS / f"{model.sha256}.gguf")
        if not target.exists():
            shutil.copyfile(model.host_path, target)
            target.chmod(0o644)

    def restart(self) -> float:
        """Restart hal0d; seconds from its exec to READY=1, as systemd recorded them."""
        # The sweeps restart it more often than its start limit (5 in 10 s) allows.
        self.container.run("systemctl", "reset-failed", DAEMON, check=False)
        self.run("systemctl", "restart", DAEMON)
        props = self.show(
            DAEMON, "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic"
        )
        started = int(props["ExecMainStartTimestampMonotonic"])
        return (int(props["ActiveEnterTimestampMonotonic"]) - started) / 1e6

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self, unit: str = DAEMON) -> int:
        return int(self.show(unit, "MainPID")["MainPID"])

    def stop_slots(self) -> None:
        self.container.run("systemctl", "stop", "hal0-slot@*.service", check=False, timeout=300)
        self.container.run("systemctl", "reset-failed", "hal0-slot@*.service", check=False)

    def rss_kib(self, pid: int) -> int:
        return int(self.status(pid)["VmRSS"].split()[0])

    def status(self, pid: int) -> dict[str, str]:
        text = self.run("cat", f"/proc/{pid}/status")
        return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}

    def context_switches(self, pid: int) -> int:
        """Voluntary + involuntary switches summed over every thread of ``pid``."""
        text = self.run("sh", "-c", f"cat /proc/{pid}/task/*/status")
        return sum(
            int(line.split(":")[1])
            for line in text.splitlines()
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        )

    def cpu_seconds(self, pid: int) -> float:
        """utime + stime of ``pid`` (all its threads) in seconds."""
        fields = self.run("cat", f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
        ticks = int(self.run("getconf", "CLK_TCK"))
        return (int(fields[11]) + int(fields[12])) / ticks


def slot_file(model: Model, **extra: str) -> str:
    lines = [
        'url = "https://127.0.0.1:9/model.gguf"',  # never fetched: the model is in place
        f'sha256 = "{model.sha256}"',
        f"size = {model.size}",
        "threads = 1",
        "context = 512",
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def stage(container: Container) -> Iterator[Stage]:
    box = Stage(container)
    yield box
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    box.stop_slots()


def runs(default: int) -> int:
    """Counted runs of a measurement: BENCH_RUNS overrides every default (for a quick try)."""
    return int(os.environ.get("BENCH_RUNS", default))
