"""Hostile and malformed calls: the daemon stays up, every error is org.hal0.Error.* or
org.freedesktop.DBus.Error.*, and no reply carries a traceback or a source path."""

import asyncio
import random
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

import hal0d
from tests.bus.harness import Daemon, busctl

NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"
SLOT = "/org/hal0/Manager1/slot/alpha"
SOURCE = str(Path(hal0d.__file__).resolve().parent.parent)
HOSTILE_NAMES = [
    "",
    "../x",
    "..",
    "/",
    "a/b",
    "ALPHA",
    "a" * 33,
    "-a",
    "a\n",
    "nosuch",
    "alpha ",
    " alpha",
    "x" * 4096,
    "%s%n",
    "${HOME}",
    "alpha;rm",
]
FLOODERS = 4
IN_FLIGHT = 100
METHODS = ["Pull", "Load", "Unload", "Restart", "Cancel"]


def calls(rng: random.Random) -> list[Message]:
    out: list[Message] = []

    def call(path: str, interface: str, member: str, signature: str = "", body: Any = None) -> None:
        out.append(
            Message(
                destination=NAME,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body or [],
            )
        )

    for name in HOSTILE_NAMES:
        for member in METHODS:
            call(MANAGER, NAME, member, "s", [name])
    for member in [*METHODS, "ListSlots", "Prune", "Reload"]:
        call(MANAGER, NAME, member, "i", [7])
        call(MANAGER, NAME, member, "ss", ["alpha", "x"])
        call(MANAGER, NAME, member, "as", [["alpha"]])
        call(SLOT, "org.hal0.Slot1", member, "s", ["alpha"])
    for member in ["Nope", "pull", "PULL", "Introspect", ""]:
        if member:
            call(MANAGER, NAME, member, "s", ["alpha"])
            call(MANAGER, "org.hal0.Nope1", member)
    for path in [
        "/",
        "/org/hal0",
        "/org/hal0/Manager1/slot/nosuch",
        "/org/hal0/Manager1/slot/_2e_2e",
    ]:
        call(path, NAME, "Pull", "s", ["alpha"])
        call(path, "org.hal0.Slot1", "Load")
        call(path, "org.freedesktop.DBus.Properties", "GetAll", "s", [NAME])
    for prop in ["Status", "Nope", "", "x" * 1000]:
        call(MANAGER, "org.freedesktop.DBus.Properties", "Get", "ss", [NAME, prop])
        call(MANAGER, "org.freedesktop.DBus.Properties", "Get", "ss", ["org.nope", prop])
        call(
            MANAGER,
            "org.freedesktop.DBus.Properties",
            "Set",
            "ssv",
            [NAME, prop, __import__("dbus_fast").Variant("s", "x")],
        )
    call(MANAGER, "org.freedesktop.DBus.Properties", "Get", "s", [NAME])
    call(MANAGER, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "s", ["x"])
    for _ in range(3):
        call(MANAGER, NAME, "Pull", "s", ["a" * (10 << 20)])
    while len(out) < 1100:
        member = rng.choice(METHODS)
        name = rng.choice([*HOSTILE_NAMES, "".join(rng.choice("ab-_./\\0") for _ in range(8))])
        call(MANAGER, NAME, member, "s", [name])
    return out


def check_reply(reply: Message) -> str | None:
    if reply.message_type is not MessageType.ERROR:
        return None
    name = reply.error_name or ""
    text = " ".join(str(part) for part in reply.body)
    assert name.startswith(("org.hal0.Error.", "org.freedesktop.DBus.Error.")), (name, text[:300])
    assert "Traceback" not in text, text[:2000]
    assert SOURCE not in text, text[:2000]
    assert "site-packages" not in text, text[:2000]
    return name


async def test_a_thousand_hostile_calls_leave_the_daemon_up(
    daemon: Daemon, bus_address: str
) -> None:
    # dbus-daemon allows 128 pending replies per connection (max_replies_per_connection, the
    # same on the system bus), so the flood comes from four connections with 100 calls each
    # in flight at once.
    buses = [await MessageBus(bus_address=bus_address).connect() for _ in range(FLOODERS)]
    bus = buses[0]
    try:
        messages = calls(random.Random(1234))
        assert len(messages) >= 1000
        errors: dict[str, int] = {}
        big = [m for m in messages if len(str(m.body)) > 1 << 20]
        small = [m for m in messages if m not in big]
        for message in big:  # 10 MB strings
            reply = await bus.call(message)
            assert reply is not None
            name = check_reply(reply)
            errors[str(name)] = errors.get(str(name), 0) + 1

        async def flood(client: MessageBus, share: list[Message]) -> None:
            for start in range(0, len(share), IN_FLIGHT):
                batch = share[start : start + IN_FLIGHT]
                for reply in await asyncio.gather(*(client.call(m) for m in batch)):
                    assert reply is not None
                    name = check_reply(reply)
                    errors[str(name)] = errors.get(str(name), 0) + 1

        await asyncio.gather(*(flood(client, small[i::FLOODERS]) for i, client in enumerate(buses)))
        assert errors.get("org.hal0.Error.InvalidName", 0) > 100, errors
        assert "org.hal0.Error.NoSuchSlot" in errors, errors
        assert "org.freedesktop.DBus.Error.UnknownMethod" in errors, errors
        assert "org.hal0.Error.Internal" not in errors, errors
        ping = await bus.call(
            Message(
                destination=NAME, path=MANAGER, interface="org.freedesktop.DBus.Peer", member="Ping"
            )
        )
        assert ping is not None
        assert ping.message_type is MessageType.METHOD_RETURN
    finally:
        for client in buses:
            client.disconnect()
    assert daemon.process.poll() is None
    assert "Traceback" not in daemon.log() or "unexpected error" in daemon.log()


NON_ASCII = ["é", "\u00e9t\u00e9", "\u2603", "a\U0001f600", "\u0430lpha"]


def test_non_ascii_names_from_an_independent_client(daemon: Daemon, bus_address: str) -> None:
    """dbus-fast 1.84.2 cannot even send these (it writes string lengths in characters), so
    busctl sends them; hal0d must answer with a well-formed error and stay on the bus."""
    for name in NON_ASCII:
        for method in METHODS:
            result = busctl(
                bus_address, "call", NAME, MANAGER, NAME, method, "s", name, check=False
            )
            assert result.returncode != 0
            assert "Invalid" in result.stderr or "not a valid slot name" in result.stderr, (
                result.stderr
            )
    assert "org.hal0.Manager1" in busctl(bus_address, "list", "--acquired", "--no-legend").stdout
    assert daemon.process.poll() is None
