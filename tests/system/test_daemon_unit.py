"""hal0d as the real Type=notify unit, with the real polkitd and the shipped rules.

In the container: the unit becomes active only after READY=1, `systemctl status` shows the
status line, and `Pull` is denied to a user outside group hal0 (through runuser, so polkit
judges a container process) while a member of hal0 and root are allowed.
"""

from collections.abc import Iterator

import pytest

from tests.system.harness.container import Container

# The trixie subset: daemon up, polkit allow and deny.
pytestmark = pytest.mark.trixie
UNIT = "hal0d.service"
SLOT = 'url = "https://127.0.0.1:9/demo.gguf"\nsha256 = "' + "ab" * 32 + '"\nsize = 1024\n'
# busctl prints only an error's message; this prints its D-Bus name (dbus-fast is in the
# container as hal0d's own dependency).
PULL = """
import asyncio
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType

async def main():
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    reply = await bus.call(Message(destination="org.hal0.Manager1", path="/org/hal0/Manager1",
        interface="org.hal0.Manager1", member="Pull", signature="s", body=["demo"]))
    print(reply.error_name if reply.message_type is MessageType.ERROR else "ok")

asyncio.run(main())
"""


def pull_as(container: Container, user: str | None) -> str:
    return container.run("python3", "-c", PULL, user=user).stdout.strip()


@pytest.fixture(scope="module")
def hal0d(container: Container) -> Iterator[Container]:
    container.write_file("/etc/hal0/hal0.toml", 'llama_server = "/bin/true"\n')
    container.write_file("/etc/hal0/slots/demo.toml", SLOT)
    container.ensure_user("alice")
    container.ensure_user("bob", groups=["hal0"])
    container.run("systemctl", "start", UNIT, timeout=60)
    yield container
    container.run("systemctl", "stop", UNIT, check=False, timeout=60)


def _show(container: Container, *props: str) -> dict[str, str]:
    out = container.run("systemctl", "show", UNIT, *(f"--property={p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_unit_is_active_after_ready_with_its_status_line(hal0d: Container) -> None:
    shown = _show(hal0d, "ActiveState", "SubState", "Type", "StatusText", "MainPID")
    assert shown["ActiveState"] == "active", hal0d.journal(UNIT)
    assert shown["Type"] == "notify"
    assert shown["StatusText"] == "1 offline", shown
    status = hal0d.run("systemctl", "status", "--no-pager", UNIT, check=False).stdout
    assert 'Status: "1 offline"' in status, status
    owner = hal0d.run("busctl", "status", "org.hal0.Manager1").stdout
    assert f"PID={shown['MainPID']}" in owner
    uid = hal0d.run("id", "-u", "_hal0").stdout.strip()
    assert f"\nUID={uid}\n" in owner


def test_property_read_is_open_to_everyone(hal0d: Container) -> None:
    out = hal0d.run(
        "busctl", "get-property", "org.hal0.Manager1", "/org/hal0/Manager1",
        "org.hal0.Manager1", "Status", user="alice",
    ).stdout  # fmt: skip
    assert out.strip() == 's "1 offline"'


def test_pull_denied_outside_group_hal0(hal0d: Container) -> None:
    assert pull_as(hal0d, "alice") == "org.hal0.Error.NotAuthorized"
    phase = hal0d.run(
        "busctl", "get-property", "org.hal0.Manager1", "/org/hal0/Manager1/slot/demo",
        "org.hal0.Slot1", "Phase",
    ).stdout  # fmt: skip
    assert phase.strip() == 's ""'  # nothing started


@pytest.mark.parametrize("user", ["bob", None])
def test_pull_allowed_for_group_hal0_and_root(hal0d: Container, user: str | None) -> None:
    # Accepted, or Busy if the previous caller's pull of this slot is still running: either
    # way polkit let the call through.
    assert pull_as(hal0d, user) in ("ok", "org.hal0.Error.Busy")
