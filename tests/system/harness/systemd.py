"""A small async client of the container's systemd, over its system bus from the host (dbus-fast).

Independent of hal0d's own systemd adapter on purpose: the tests check the product against
systemd with code that shares nothing with it. Plain messages (no introspection proxies), so it
behaves the same on every dbus-fast version.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
PROPERTIES = "org.freedesktop.DBus.Properties"


class SystemdError(Exception):
    """A D-Bus error answered by systemd, or a wait that ran out of time."""


class Systemd:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._jobs: dict[str, str] = {}  # job path -> result, filled by JobRemoved
        self._changed = asyncio.Event()
        bus.add_message_handler(self._on_message)

    @classmethod
    async def connect(cls, address: str) -> Systemd:
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        client = cls(bus)
        match = f"type='signal',sender='{SYSTEMD}'"
        dbus = "org.freedesktop.DBus"
        await client._call(
            dbus, "/org/freedesktop/DBus", dbus, "AddMatch", signature="s", body=[match]
        )
        await client.manager("Subscribe")
        return client

    async def close(self) -> None:
        self.bus.disconnect()
        await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Systemd:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _on_message(self, message: Message) -> None:
        if message.message_type != MessageType.SIGNAL:
            return
        if message.member == "JobRemoved":
            _id, job, _unit, result = message.body
            self._jobs[job] = result
        self._changed.set()

    async def _call(
        self, destination: str, path: str, interface: str, member: str, *,
        signature: str = "", body: list[Any] | None = None,
    ) -> list[Any]:  # fmt: skip
        reply = await self.bus.call(
            Message(destination=destination, path=path, interface=interface, member=member,
                    signature=signature, body=body or [])
        )  # fmt: skip
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            raise SystemdError(
                f"{member}: {reply.error_name}: {reply.body[0] if reply.body else ''}"
            )
        return list(reply.body)

    async def manager(self, member: str, signature: str = "", *args: Any) -> list[Any]:
        return await self._call(
            SYSTEMD, MANAGER_PATH, MANAGER, member, signature=signature, body=list(args)
        )

    async def manager_property(self, name: str) -> Any:
        body = await self._call(
            SYSTEMD, MANAGER_PATH, PROPERTIES, "Get", signature="ss", body=[MANAGER, name]
        )
        return body[0].value

    async def unit_path(self, unit: str) -> str:
        return str((await self.manager("LoadUnit", "s", unit))[0])

    async def properties(self, unit: str, interface: str = UNIT) -> dict[str, Any]:
        path = await self.unit_path(unit)
        body = await self._call(
            SYSTEMD, path, PROPERTIES, "GetAll", signature="s", body=[interface]
        )
        return {key: variant.value for key, variant in body[0].items()}

    async def state(self, unit: str) -> dict[str, Any]:
        """Unit and service properties merged (ActiveState, SubState, MainPID, NRestarts...)."""
        return {**await self.properties(unit, UNIT), **await self.properties(unit, SERVICE)}

    async def _job(self, member: str, unit: str, within: float) -> str:
        job = str((await self.manager(member, "ss", unit, "replace"))[0])
        await self._wait(lambda: job in self._jobs, within, f"{member} {unit}")
        return self._jobs.pop(job)

    async def start(self, unit: str, within: float = 20) -> str:
        """StartUnit and wait for its job; returns the job result ("done", "failed", ...)."""
        return await self._job("StartUnit", unit, within)

    async def stop(self, unit: str, within: float = 20) -> str:
        return await self._job("StopUnit", unit, within)

    async def kill(self, unit: str, signal: int, whom: str = "main") -> None:
        await self.manager("KillUnit", "ssi", unit, whom, signal)

    async def reset_failed(self, unit: str) -> None:
        await self.manager("ResetFailedUnit", "s", unit)

    async def wait_state(
        self, unit: str, predicate: Callable[[dict[str, Any]], bool], within: float = 20
    ) -> dict[str, Any]:
        """Wait until ``predicate(state(unit))`` holds, re-checking on every systemd signal."""
        latest: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal latest
            latest = await self.state(unit)
            return predicate(latest)

        deadline = time.monotonic() + within
        while True:
            self._changed.clear()
            if await check():
                return latest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SystemdError(
                    f"{unit}: condition not met in {within} s; last state "
                    f"{latest.get('ActiveState')}/{latest.get('SubState')} "
                    f"Result={latest.get('Result')} NRestarts={latest.get('NRestarts')}"
                )
            # Re-check at least every second: not every change of interest is signalled.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))

    async def _wait(self, condition: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SystemdError(f"{what}: no result in {within} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
