"""A D-Bus client of hal0d for the benchmarks: calls, and every PropertiesChanged it sends
with the host's CLOCK_MONOTONIC time of arrival (the container shares that clock).

dbus-fast with plain messages, as an applet would subscribe; nothing of hal0d's own bus code."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from hal0d.bus.paths import encode_label
from hal0d.contract import (
    BUS_NAME,
    MANAGER_INTERFACE,
    MANAGER_PATH,
    SLOT_INTERFACE,
    SLOT_PATH_PREFIX,
)

PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"


@dataclass(frozen=True)
class Change:
    at: float  # time.monotonic() when the signal was read
    path: str
    changed: dict[str, Any]


def slot_path(name: str) -> str:
    return f"{SLOT_PATH_PREFIX}/{encode_label(name)}"


class Hal0Client:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.changes: list[Change] = []
        self._arrived = asyncio.Event()
        bus.add_message_handler(self._on_message)

    @classmethod
    async def connect(cls, address: str) -> Hal0Client:
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        client = cls(bus)
        match = f"type='signal',sender='{BUS_NAME}',interface='{PROPERTIES}'"
        dbus = "org.freedesktop.DBus"
        await client._send(
            Message(destination=dbus, path="/org/freedesktop/DBus", interface=dbus,
                    member="AddMatch", signature="s", body=[match])
        )  # fmt: skip
        return client

    async def __aenter__(self) -> Hal0Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.bus.disconnect()
        await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def _on_message(self, message: Message) -> None:
        if message.message_type is MessageType.SIGNAL and message.member == "PropertiesChanged":
            at = time.monotonic()
            changed = {key: variant.value for key, variant in message.body[1].items()}
            self.changes.append(Change(at, str(message.path), changed))
            self._arrived.set()

    async def _send(self, message: Message) -> list[Any]:
        reply = await self.bus.call(message)
        assert reply is not None
        if reply.message_type is MessageType.ERROR:
            raise RuntimeError(f"{message.member}: {reply.error_name}: {reply.body}")
        return list(reply.body)

    async def _call(
        self, path: str, interface: str, member: str, signature: str = "", *body: Any
    ) -> list[Any]:
        message = Message(
            destination=BUS_NAME, path=path, interface=interface, member=member,
            signature=signature, body=list(body),
        )  # fmt: skip
        return await self._send(message)

    async def manager(self, member: str, signature: str = "", *args: Any) -> list[Any]:
        return await self._call(MANAGER_PATH, MANAGER_INTERFACE, member, signature, *args)

    async def managed_objects(self) -> dict[str, Any]:
        body = await self._call(MANAGER_PATH, OBJECT_MANAGER, "GetManagedObjects")
        return dict(body[0])

    async def slot_property(self, name: str, prop: str) -> Any:
        return (await self.get_all(slot_path(name), SLOT_INTERFACE))[prop]

    async def get_all(self, path: str, interface: str) -> dict[str, Any]:
        body = await self._call(path, PROPERTIES, "GetAll", "s", interface)
        return {key: variant.value for key, variant in body[0].items()}

    async def wait_for(
        self, path: str, prop: str, value: Any, *, after: float, within: float = 120
    ) -> Change:
        """The first signal from ``path`` at or after ``after`` that sets ``prop`` to ``value``."""
        deadline = time.monotonic() + within
        while True:
            for change in self.changes:
                if change.at >= after and change.path == path and change.changed.get(prop) == value:
                    return change
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{path}: {prop} did not become {value!r} within {within} s")
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), remaining)

    async def load(self, name: str, *, within: float = 120) -> tuple[float, Change]:
        """Load and wait for the ready signal: (time the call was sent, that signal)."""
        sent = time.monotonic()
        await self.manager("Load", "s", name)
        ready = await self.wait_for(slot_path(name), "State", "ready", after=sent, within=within)
        return sent, ready

    async def unload(self, name: str, *, within: float = 120) -> None:
        if await self.slot_property(name, "State") == "offline":
            return
        sent = time.monotonic()
        await self.manager("Unload", "s", name)
        await self.wait_for(slot_path(name), "State", "offline", after=sent, within=within)
