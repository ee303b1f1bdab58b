"""The router in the system tier: hal0d with a set of slots, hal0-router.socket on a free port.

`RouterSetup` writes the configuration (hal0.toml, one file per slot, router.toml, models in
the store), restarts hal0d and starts the router's socket through a drop-in that moves it to a
free loopback port — the drop-in docs/router.md documents, starting with an empty
ListenStream=. The container shares the host's network namespace, so the host reaches it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.system.conftest import Model, free_port
from tests.system.harness.container import LLAMA_DIR, Container
from tests.system.test_daemon_slots import slot_property

MODELS = "/var/lib/hal0/models"
SOCKET = "hal0-router.socket"
SERVICE = "hal0-router.service"
DAEMON = "hal0d.service"
# systemd's catalog id of "Starting UNIT...": one per start job, auto-restarts included
UNIT_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"


@dataclass
class Slot:
    name: str
    sha256: str
    size: int
    source: Path | None  # copied into the store; None: not in the store (or put there already)
    extra: str = ""  # more lines of the slot file
    port: int = field(default_factory=free_port)

    @classmethod
    def of(cls, name: str, model: Model, extra: str = "") -> Slot:
        return cls(name, model.sha256, model.size, model.host_path, extra)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def starts(container: Container, unit: str) -> int:
    """How many start jobs systemd ran for ``unit`` (its "Starting …" journal entries)."""
    out = container.run(
        "journalctl", "--no-pager", "-o", "cat", f"UNIT={unit}", f"MESSAGE_ID={UNIT_STARTING}"
    ).stdout
    return len([line for line in out.splitlines() if line.strip()])


def metric(url: str, name: str, key: str | None = None) -> float:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    text = httpx.get(f"{url}/metrics", headers=headers).text
    match = re.search(rf"^llamacpp:{name} (\S+)$", text, re.MULTILINE)
    if match is None:
        raise AssertionError(f"no llamacpp:{name} in /metrics:\n{text}")
    return float(match.group(1))


def broken_slot(container: Container, name: str) -> Slot:
    """A slot whose model is in the store but cannot be loaded (llama-server exits 1 at once)."""
    data = b"GGUF-but-not-really" * 64
    sha256 = hashlib.sha256(data).hexdigest()
    target = container.path(f"{MODELS}/{sha256}.gguf")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o644)
    return Slot(name, sha256, len(data), None)


def absent_slot(name: str) -> Slot:
    """A slot whose model is not in the store (and whose url leads nowhere)."""
    return Slot(name, "0" * 64, 1024, None)


class RouterSetup:
    def __init__(self, container: Container, slots: list[Slot], router_toml: str = "") -> None:
        self.container = container
        self.slots = {slot.name: slot for slot in slots}
        self.port = free_port()
        self.router_toml = router_toml
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        c = self.container
        slots_dir = c.path("/etc/hal0/slots")
        for old in slots_dir.glob("*") if slots_dir.exists() else ():
            old.unlink()
        c.write_file(
            "/etc/hal0/hal0.toml",
            f'llama_server = "{LLAMA_DIR}/llama-server"\nidle_after = "1h"\n',
        )
        c.run("systemd-tmpfiles", "--create")
        for slot in self.slots.values():
            self._write_slot(slot)
        c.write_file("/etc/hal0/router.toml", self.router_toml)
        c.drop_in(SOCKET, "port", f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{self.port}\n")
        c.run("systemctl", "restart", DAEMON, timeout=60)
        c.run("systemctl", "start", SOCKET)

    def _write_slot(self, slot: Slot) -> None:
        self.container.write_file(
            f"/etc/hal0/slots/{slot.name}.toml",
            f'url = "https://127.0.0.1:9/{slot.name}.gguf"\nsha256 = "{slot.sha256}"\n'
            f"size = {slot.size}\nport = {slot.port}\nthreads = 1\ncontext = 4096\n{slot.extra}",
        )
        if slot.source is not None:
            target = self.container.path(f"{MODELS}/{slot.sha256}.gguf")
            if not target.exists():
                shutil.copyfile(slot.source, target)
                target.chmod(0o644)

    def restart_router(self) -> None:
        self.container.run("systemctl", "restart", SERVICE, timeout=90)

    def stop(self) -> None:
        c = self.container
        c.run("systemctl", "stop", SOCKET, SERVICE, check=False, timeout=90)
        c.run("systemctl", "reset-failed", SOCKET, SERVICE, check=False)
        c.run("systemctl", "stop", DAEMON, check=False, timeout=60)
        for name in self.slots:
            unit = f"hal0-slot@{name}.service"
            c.run("systemctl", "stop", unit, check=False, timeout=120)
            c.run("systemctl", "reset-failed", unit, check=False)
        c.path(f"/etc/systemd/system/{SOCKET}.d/port.conf").unlink(missing_ok=True)
        c.path("/etc/hal0/router.toml").unlink(missing_ok=True)
        c.path("/etc/hal0/router.keys").unlink(missing_ok=True)
        for slot in self.slots:
            c.path(f"/etc/hal0/slots/{slot}.toml").unlink(missing_ok=True)
        c.daemon_reload()

    def states(self) -> Mapping[str, str]:
        return {name: slot_property(self.container, name, "State") for name in self.slots}
