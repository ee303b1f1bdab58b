"""systemd's signals, believed only from systemd: a real systemd 252, a forger on the same bus,
and `systemctl daemon-reexec` (which gives org.freedesktop.systemd1 a new unique name).

First hal0d's systemd client alone, against a test unit whose start job waits for a gate file
(so the job is pending for as long as the test needs, with no timing involved); then the
real hal0d.service, whose Load must complete after a re-exec and whose pending start job a
forged `JobRemoved` must not end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from hal0d.systemd.client import SystemdClient
from hal0d.systemd.units import unit_path
from tests.system.harness.container import Container
from tests.system.test_daemon_slots import daemon, slot_property, wait_for

pytestmark = pytest.mark.timeout(180)
__all__ = ["daemon"]  # the module-scoped hal0d.service with slots "left" and "right"

GATED = "hal0-test-gated.service"
GATE = "/run/hal0-test-gate"
# The start job stays pending until the test creates the gate file.
WAIT_FOR_GATE = f"/bin/sh -c 'while [ ! -e {GATE} ]; do sleep 0.05; done'"
GATED_UNIT = f"[Service]\nExecStartPre={WAIT_FOR_GATE}\nExecStart=/bin/sleep infinity\n"
MANAGER = "org.freedesktop.systemd1.Manager"


@pytest.fixture
def gated(container: Container) -> Iterator[str]:
    container.run("rm", "-f", GATE)
    container.write_file(f"/etc/systemd/system/{GATED}", GATED_UNIT)
    container.daemon_reload()
    yield GATED
    container.run("systemctl", "stop", GATED, check=False, timeout=60)
    container.run("rm", "-f", GATE)


def forge(forger: MessageBus, to: str, *, path: str, member: str, sig: str, body: Any) -> None:
    """Send a signal to ``to`` as if systemd had sent it."""
    interface = MANAGER if member == "JobRemoved" else "org.freedesktop.DBus.Properties"
    forger.send(
        Message(
            message_type=MessageType.SIGNAL,
            destination=to,
            path=path,
            interface=interface,
            member=member,
            signature=sig,
            body=body,
        )
    )


async def handled_by(receiver: MessageBus, forger: MessageBus) -> None:
    """Return once ``receiver`` has handled what ``forger`` sent it so far: the bus keeps the
    order of one sender's messages, so a last signal's arrival means the earlier ones were
    dispatched (to every message handler, the client's included)."""
    arrived = asyncio.Event()

    def watch(message: Message) -> bool:
        if message.member == "Sync" and message.sender == forger.unique_name:
            arrived.set()
        return False

    receiver.add_message_handler(watch)
    try:
        forger.send(
            Message(
                message_type=MessageType.SIGNAL,
                destination=receiver.unique_name,
                path="/",
                interface="org.hal0.Test",
                member="Sync",
            )
        )
        await asyncio.wait_for(arrived.wait(), 30)
    finally:
        receiver.remove_message_handler(watch)


async def pinged(forger: MessageBus, to: str) -> None:
    """Return once ``to`` (hal0d) has answered a Ping sent after the forged signals."""
    reply = await forger.call(
        Message(destination=to, path="/", interface="org.freedesktop.DBus.Peer", member="Ping")
    )
    assert reply is not None
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body


def job_id(container: Container, unit: str) -> int:
    jobs = container.run("systemctl", "list-jobs", "--no-legend", "--no-pager").stdout
    for line in jobs.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == unit:
            return int(fields[0])
    raise AssertionError(f"no job for {unit}: {jobs}")


async def test_the_client_believes_no_forged_signal(container: Container, gated: str) -> None:
    bus = await MessageBus(bus_address=container.bus_address).connect()
    # Another connection: root's here, but the bus lets any local user send a signal.
    forger = await MessageBus(bus_address=container.bus_address).connect()
    try:
        client = SystemdClient(bus)
        changed: list[str] = []
        client.on_unit_changed(changed.append)
        await client.subscribe()
        # The forged PropertiesChanged names a watched unit nothing else changes meanwhile:
        # the gated unit's own start sends real ones at any moment.
        quiet = "dbus.service"
        await client.watch_units([gated, quiet])
        job = await client.queue_job("StartUnit", gated)
        number = int(job.path.rsplit("/", 1)[1])
        assert bus.unique_name is not None
        forge(
            forger, bus.unique_name, path="/org/freedesktop/systemd1", member="JobRemoved",
            sig="uoss", body=[number, job.path, gated, "failed"],
        )  # fmt: skip
        forge(
            forger, bus.unique_name, path=unit_path(quiet), member="PropertiesChanged",
            sig="sa{sv}as",
            body=["org.freedesktop.systemd1.Unit", {"ActiveState": Variant("s", "failed")}, []],
        )  # fmt: skip
        await handled_by(bus, forger)
        assert not job.done()
        assert quiet not in changed
        container.run("touch", GATE)
        assert await job.result(30) == "done"
    finally:
        forger.disconnect()
        bus.disconnect()


async def test_the_client_follows_systemd_through_a_reexec(
    container: Container, gated: str
) -> None:
    bus = await MessageBus(bus_address=container.bus_address).connect()
    try:
        client = SystemdClient(bus)
        await client.subscribe()
        await client.watch_units([gated])
        container.run("systemctl", "daemon-reexec", timeout=60)
        container.run("touch", GATE)
        assert await client.start_unit(gated) == "done"
        assert await client.stop_unit(gated) == "done"
    finally:
        bus.disconnect()


def test_hal0d_loads_after_a_reexec_and_ignores_a_forged_job_removed(
    container: Container, daemon: dict[str, int]
) -> None:
    # Only this test's lines: earlier modules may have failed slot starts on purpose.
    since = "@" + container.run("date", "+%s.%N").stdout.strip()
    container.run("systemctl", "daemon-reexec", timeout=60)
    load(container, "left")
    wait_for("left ready after daemon-reexec", lambda: state(container, "left") == "ready")

    container.run("rm", "-f", GATE)
    container.drop_in(
        "hal0-slot@right.service", "50-gate", f"[Service]\nExecStartPre=+{WAIT_FOR_GATE}\n"
    )
    try:
        load(container, "right")
        unit = "hal0-slot@right.service"
        number = job_id(container, unit)
        hal0d = unique_name(container)
        assert state(container, "right") == "starting"
        asyncio.run(forge_job_removed(container, hal0d, number, unit))
        assert state(container, "right") == "starting"
        assert slot_property(container, "right", "LastError") == ""
        assert "ended: failed" not in container.journal("hal0d.service", since=since)
        container.run("touch", GATE)
        wait_for(
            "right ready once its start job ends", lambda: state(container, "right") == "ready"
        )
    finally:
        container.run("rm", "-f", "/etc/systemd/system/hal0-slot@right.service.d/50-gate.conf")
        container.daemon_reload()
        container.run("rm", "-f", GATE)


async def forge_job_removed(container: Container, to: str, number: int, unit: str) -> None:
    forger = await MessageBus(bus_address=container.bus_address).connect()
    try:
        path = f"/org/freedesktop/systemd1/job/{number}"
        forge(
            forger,
            to,
            path="/org/freedesktop/systemd1",
            member="JobRemoved",
            sig="uoss",
            body=[number, path, unit, "failed"],
        )
        await pinged(forger, to)
    finally:
        forger.disconnect()


def load(container: Container, name: str) -> None:
    container.run(
        "busctl", "call", "org.hal0.Manager1", "/org/hal0/Manager1", "org.hal0.Manager1",
        "Load", "s", name,
    )  # fmt: skip


def state(container: Container, name: str) -> str:
    return slot_property(container, name, "State")


def unique_name(container: Container) -> str:
    status = container.run("busctl", "status", "org.hal0.Manager1").stdout
    for line in status.splitlines():
        if line.startswith("UniqueName="):
            return line.split("=", 1)[1]
    raise AssertionError(status)
