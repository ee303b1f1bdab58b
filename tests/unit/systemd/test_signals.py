"""Which systemd signals the client believes: only those of the current owner of
org.freedesktop.systemd1, followed through NameOwnerChanged, and unit signals only for the
units it watches (one match rule each).

`ScriptedBus` stands in for the bus connection and answers the client's calls as dbus-daemon
and systemd would; the same behaviour against a real systemd (a forged signal from another
connection, `systemctl daemon-reexec`) is tested in tests/system/test_systemd_signals.py.
"""

import asyncio
from typing import Any

from dbus_fast import Message, MessageType, Variant

from hal0d.systemd.client import JOB_RULE, OWNER_RULE, SystemdClient, unit_rule
from hal0d.systemd.units import unit_path

SYSTEMD = ":1.1"
JOB = "/org/freedesktop/systemd1/job/7"
UNIT = "hal0-slot@chat.service"
REPLIES = {"GetNameOwner": ("s", [SYSTEMD]), "StartUnit": ("o", [JOB])}


class ScriptedBus:
    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.calls: list[tuple[str, list[Any]]] = []

    def add_message_handler(self, handler: Any) -> None:
        self.handlers.append(handler)

    async def call(self, message: Message) -> Message:
        self.calls.append((message.member, list(message.body)))
        signature, body = REPLIES.get(message.member, ("", []))
        return Message(
            message_type=MessageType.METHOD_RETURN,
            reply_serial=1,
            signature=signature,
            body=body,
        )

    def deliver(self, message: Message) -> None:
        for handler in self.handlers:
            handler(message)

    def rules(self, member: str) -> list[str]:
        return [body[0] for called, body in self.calls if called == member]


def signal(
    sender: str, *, path: str, interface: str, member: str, sig: str, body: list[Any]
) -> Message:
    return Message(
        message_type=MessageType.SIGNAL,
        sender=sender,
        path=path,
        interface=interface,
        member=member,
        signature=sig,
        body=body,
    )


def job_removed(sender: str, result: str) -> Message:
    return signal(
        sender,
        path="/org/freedesktop/systemd1",
        interface="org.freedesktop.systemd1.Manager",
        member="JobRemoved",
        sig="uoss",
        body=[7, JOB, UNIT, result],
    )


def unit_changed(sender: str, unit: str = UNIT) -> Message:
    return signal(
        sender,
        path=unit_path(unit),
        interface="org.freedesktop.DBus.Properties",
        member="PropertiesChanged",
        sig="sa{sv}as",
        body=["org.freedesktop.systemd1.Unit", {"ActiveState": Variant("s", "active")}, []],
    )


def owner_changed(old: str, new: str) -> Message:
    return signal(
        "org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member="NameOwnerChanged",
        sig="sss",
        body=["org.freedesktop.systemd1", old, new],
    )


async def started() -> tuple[ScriptedBus, SystemdClient, list[str]]:
    bus = ScriptedBus()
    client = SystemdClient(bus)  # type: ignore[arg-type]
    seen: list[str] = []
    client.on_unit_changed(seen.append)
    await client.subscribe()
    await client.watch_units([UNIT])
    return bus, client, seen


async def test_a_job_removed_from_another_sender_is_not_believed() -> None:
    bus, client, _ = await started()
    job = await client.queue_job("StartUnit", UNIT)
    bus.deliver(job_removed(":1.99", "failed"))
    assert not job.done()
    bus.deliver(job_removed(SYSTEMD, "done"))
    assert await job.result(1) == "done"


async def test_unit_signals_only_from_systemd_and_only_for_watched_units() -> None:
    bus, _, seen = await started()
    bus.deliver(unit_changed(":1.99"))
    bus.deliver(unit_changed(SYSTEMD, "sshd.service"))
    assert seen == []
    bus.deliver(unit_changed(SYSTEMD))
    assert seen == [UNIT]


async def test_the_new_owner_is_followed_after_a_reexec() -> None:
    bus, client, seen = await started()
    job = await client.queue_job("StartUnit", UNIT)
    bus.deliver(owner_changed(SYSTEMD, ""))
    bus.deliver(owner_changed("", ":1.5"))
    bus.deliver(job_removed(SYSTEMD, "failed"))  # the old connection's name, now anyone's
    assert not job.done()
    bus.deliver(job_removed(":1.5", "done"))
    assert await job.result(1) == "done"
    await asyncio.sleep(0)  # the client subscribes again in a task of its own
    assert [call for call, _ in bus.calls].count("Subscribe") == 2
    assert seen == [UNIT]  # re-read: it may have changed while systemd was away


async def test_a_forged_owner_change_is_ignored() -> None:
    bus, client, _ = await started()
    forged = owner_changed(SYSTEMD, ":1.99")
    forged.sender = ":1.99"
    bus.deliver(forged)
    job = await client.queue_job("StartUnit", UNIT)
    bus.deliver(job_removed(":1.99", "failed"))
    assert not job.done()


async def test_one_match_rule_per_watched_unit_well_under_the_bus_limit() -> None:
    bus, client, _ = await started()
    slots = [f"hal0-slot@s{index}.service" for index in range(256)]
    await client.watch_units(slots)
    added = bus.rules("AddMatch")
    assert added[:2] == [OWNER_RULE, JOB_RULE]
    assert len(set(added)) == 2 + 1 + 256  # and the first watched unit, UNIT
    await client.watch_units(slots[:10])
    removed = bus.rules("RemoveMatch")
    assert sorted(removed) == sorted(unit_rule(u) for u in [UNIT, *slots[10:]])
    live = set(added) - set(removed)
    assert len(live) == 2 + 10 <= 512 // 2
