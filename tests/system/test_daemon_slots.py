"""hal0d itself running slots: Load over the bus, and recovery after hal0d is SIGKILLed.

The real hal0d.service (user _hal0, polkit rules, tmpfiles) in the container drives the real
hal0-slot@ units. hal0d killed with SIGKILL must leave both slots serving; systemd restarts
hal0d, and by the time it is active again (READY=1) both slots already show their true state,
their NRestarts and ExecMainPID untouched. Killing one slot's llama-server afterwards is
followed by the new hal0d back to ready.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.system.conftest import Model, free_port
from tests.system.harness.container import LLAMA_DIR, Container

# The trixie subset: load → ready → completion, hal0d SIGKILL recovery.
pytestmark = [pytest.mark.timeout(180), pytest.mark.trixie]
DAEMON = "hal0d.service"
SLOTS = ("left", "right")
MODELS = "/var/lib/hal0/models"


def show(container: Container, unit: str, *props: str) -> dict[str, str]:
    out = container.run("systemctl", "show", unit, *(f"--property={p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def slot_property(container: Container, name: str, prop: str) -> str:
    out = container.run(
        "busctl", "get-property", "org.hal0.Manager1", f"/org/hal0/Manager1/slot/{name}",
        "org.hal0.Slot1", prop,
    ).stdout  # fmt: skip
    return out.strip().split(" ", 1)[1].strip('"')


def wait_for(what: str, check: object, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def daemon(container: Container, tiny_model: Model) -> Iterator[dict[str, int]]:
    ports = {name: free_port() for name in SLOTS}
    slots_dir = container.path("/etc/hal0/slots")
    for old in slots_dir.glob("*.toml") if slots_dir.exists() else ():
        old.unlink()
    container.write_file(
        "/etc/hal0/hal0.toml", f'llama_server = "{LLAMA_DIR}/llama-server"\nidle_after = "1h"\n'
    )
    for name, port in ports.items():
        container.write_file(
            f"/etc/hal0/slots/{name}.toml",
            f'url = "https://127.0.0.1:9/tiny.gguf"\nsha256 = "{tiny_model.sha256}"\n'
            f"size = {tiny_model.size}\nport = {port}\nthreads = 1\ncontext = 512\n",
        )
    container.run("systemd-tmpfiles", "--create")
    target = container.path(f"{MODELS}/{tiny_model.sha256}.gguf")
    shutil.copyfile(tiny_model.host_path, target)
    target.chmod(0o644)
    container.run("systemctl", "restart", DAEMON, timeout=60)
    yield ports
    container.run("systemctl", "stop", DAEMON, check=False, timeout=60)
    for name in SLOTS:
        container.run("systemctl", "stop", f"hal0-slot@{name}.service", check=False, timeout=120)
        container.run("systemctl", "reset-failed", f"hal0-slot@{name}.service", check=False)
        (slots_dir / f"{name}.toml").unlink(missing_ok=True)


def test_hal0d_killed_leaves_slots_serving_and_recovers_their_state(
    container: Container, daemon: dict[str, int]
) -> None:
    for name in SLOTS:
        container.run(
            "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
            "Load", "s", name,
        )  # fmt: skip
    for name in SLOTS:
        wait_for(f"{name} ready", lambda n=name: slot_property(container, n, "State") == "ready")
    props = ("NRestarts", "ExecMainPID", "ActiveState")
    before = {n: show(container, f"hal0-slot@{n}.service", *props) for n in SLOTS}
    old_daemon = show(container, DAEMON, "MainPID")["MainPID"]

    container.run("systemctl", "kill", "--signal=KILL", DAEMON)
    for name, port in daemon.items():  # serving while hal0d is down
        answer = httpx.post(
            f"http://127.0.0.1:{port}/completion", json={"prompt": "Hi", "n_predict": 4}
        )
        assert answer.status_code == 200, name

    def restarted() -> bool:
        now = show(container, DAEMON, "MainPID", "ActiveState")
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", old_daemon)

    wait_for("hal0d restarted by systemd", restarted, within=30)
    # Active means READY=1 was sent: the slots' state must already be the true one.
    assert {n: slot_property(container, n, "State") for n in SLOTS} == {
        "left": "ready",
        "right": "ready",
    }
    after = {n: show(container, f"hal0-slot@{n}.service", *props) for n in SLOTS}
    assert after == before

    main = show(container, "hal0-slot@left.service", "MainPID")["MainPID"]
    server = container.run("cat", f"/proc/{main}/task/{main}/children").stdout.split()[0]
    container.run("kill", "-KILL", server)
    wait_for(
        "left restarted and ready",
        lambda: (
            slot_property(container, "left", "NRestarts") == "1"
            and slot_property(container, "left", "State") == "ready"
        ),
        within=30,
    )
    assert slot_property(container, "right", "State") == "ready"
