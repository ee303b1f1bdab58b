"""What the router knows: a cache of the slots hal0d publishes on the bus.

Filled from ``GetManagedObjects`` and kept current by ``PropertiesChanged`` and the
ObjectManager's ``InterfacesAdded``/``InterfacesRemoved``. When ``NameOwnerChanged`` shows hal0d
gone, the cache keeps the last known slots (ready slots go on being served) and marks hal0d
absent; when it shows hal0d back, the cache is filled again.

A stopping hal0d removes its slot objects (``InterfacesRemoved``) just before it leaves the
bus, so a removal is applied only after ``REMOVAL_GRACE`` seconds with hal0d still there: if
hal0d leaves meanwhile, the slots stay, and their units (which outlive hal0d) go on serving.

The reply of ``GetManagedObjects`` is applied in the bus's message handler, in the order
messages arrive: a signal that follows the reply is applied after it, never overwritten by it.
"""

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from hal0d.contract import BUS_NAME, MANAGER_INTERFACE, MANAGER_PATH, SLOT_INTERFACE

log = logging.getLogger(__name__)

DBUS = "org.freedesktop.DBus"
PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
READY_STATES = ("ready", "serving", "idle")
REMOVAL_GRACE = 2.0
_FIELDS = {
    "Name": "name",
    "State": "state",
    "Endpoint": "endpoint",
    "LastError": "last_error",
    "Phase": "phase",
    "BytesDone": "bytes_done",
    "BytesTotal": "bytes_total",
    "Aliases": "aliases",
    "Model": "model",
}


@dataclass(frozen=True)
class SlotInfo:
    name: str
    state: str = "offline"
    endpoint: str = ""
    last_error: str = ""
    phase: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    aliases: tuple[str, ...] = ()
    model: str = ""
    serial: int = 0  # grows with every update the cache applies, across resyncs too

    @property
    def ready(self) -> bool:
        return self.state in READY_STATES and bool(self.endpoint)


def _updated(info: SlotInfo, properties: Mapping[str, Any], serial: int) -> SlotInfo:
    changes: dict[str, Any] = {"serial": serial}
    for name, variant in properties.items():
        field = _FIELDS.get(name)
        if field is None:
            continue
        value = variant.value
        changes[field] = tuple(value) if field == "aliases" else value
    return replace(info, **changes)


class SlotCache:
    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self._slots: dict[str, SlotInfo] = {}  # by object path
        self._owner = ""  # hal0d's unique bus name while it runs
        self._resync_serial = 0
        self._changed = asyncio.Event()
        self._serials = itertools.count(1)
        self._removals: dict[str, asyncio.TimerHandle] = {}  # by object path
        self.listeners: list[Callable[[], None]] = []

    # -- reading -------------------------------------------------------------------------

    @property
    def hal0d_present(self) -> bool:
        return bool(self._owner)

    def slots(self) -> dict[str, SlotInfo]:
        return {info.name: info for info in self._slots.values() if info.name}

    def slot(self, name: str) -> SlotInfo | None:
        return self.slots().get(name)

    def resolve(self, model: str) -> SlotInfo | None:
        """The slot a request's ``model`` names: a slot name, else an alias."""
        slots = self.slots()
        if model in slots:
            return slots[model]
        for info in slots.values():
            if model in info.aliases:
                return info
        return None

    async def changed(self) -> None:
        """Return after the next change of anything in the cache."""
        await self._changed.wait()

    # -- filling -------------------------------------------------------------------------

    async def start(self) -> None:
        self._bus.add_message_handler(self._on_message)
        rules = [
            f"type='signal',sender='{DBUS}',interface='{DBUS}',member='NameOwnerChanged',"
            f"arg0='{BUS_NAME}'",
            f"type='signal',sender='{BUS_NAME}',interface='{PROPERTIES}',"
            f"member='PropertiesChanged',path_namespace='{MANAGER_PATH}'",
            f"type='signal',sender='{BUS_NAME}',interface='{OBJECT_MANAGER}',path='{MANAGER_PATH}'",
        ]
        for rule in rules:
            await self._call(_bus_daemon("AddMatch", rule))
        reply = await self._call(_bus_daemon("GetNameOwner", BUS_NAME))
        if reply.message_type is MessageType.METHOD_RETURN:
            await self._resync(reply.body[0])
        else:
            log.warning("hal0d (%s) is not running; waiting for it", BUS_NAME)

    async def wake(self, name: str) -> tuple[str, str] | None:
        """Ask hal0d to start slot ``name``: None once accepted, else (error name, message)."""
        wake = Message(
            destination=BUS_NAME, path=MANAGER_PATH, interface=MANAGER_INTERFACE,
            member="Wake", signature="s", body=[name],
        )  # fmt: skip
        reply = await self._call(wake)
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            return reply.error_name or "", text
        return None

    async def _call(self, message: Message) -> Message:
        reply = await self._bus.call(message)
        if reply is None:  # only for NO_REPLY_EXPECTED, which the router never sets
            raise ConnectionError(f"no reply to {message.member}")
        return reply

    async def _resync(self, owner: str) -> None:
        """Fill the cache from GetManagedObjects of ``owner`` (applied in `_on_message`)."""
        self._owner = owner
        serial = self._bus.next_serial()
        self._resync_serial = serial
        reply = await self._call(
            Message(
                destination=owner,
                path=MANAGER_PATH,
                interface=OBJECT_MANAGER,
                member="GetManagedObjects",
                serial=serial,
            )
        )
        if reply.message_type is MessageType.ERROR:
            log.warning("cannot read hal0d's slots: %s", reply.body[0] if reply.body else "")

    def _on_message(self, message: Message) -> bool:
        if message.message_type is MessageType.METHOD_RETURN:
            if message.reply_serial == self._resync_serial and self._resync_serial:
                self._resync_serial = 0
                self._fill(message.body[0])
            return False
        if message.message_type is not MessageType.SIGNAL:
            return False
        if message.member == "NameOwnerChanged" and message.sender == DBUS:
            self._owner_changed(message.body)
        elif self._owner and message.sender == self._owner:
            self._signal(message)
        return False

    def _owner_changed(self, body: list[Any]) -> None:
        name, _old, new = body
        if name != BUS_NAME:
            return
        if not new:
            log.warning("hal0d left the bus; serving ready slots from the cache")
            self._owner = ""
            self._cancel_removals()
            self.notify()
            return
        log.info("hal0d is on the bus again; reading its slots")
        task = asyncio.get_running_loop().create_task(self._resync(new))
        task.add_done_callback(_log_failure)

    def _signal(self, message: Message) -> None:
        path = message.path or ""
        if message.member == "PropertiesChanged" and message.body[0] == SLOT_INTERFACE:
            info = self._slots.get(path)
            if info is not None:
                self._slots[path] = _updated(info, message.body[1], next(self._serials))
                self.notify()
        elif message.member == "InterfacesAdded":
            added_path, interfaces = message.body
            if SLOT_INTERFACE in interfaces:
                self._cancel_removals(added_path)
                properties = interfaces[SLOT_INTERFACE]
                self._slots[added_path] = _updated(SlotInfo(""), properties, next(self._serials))
                self.notify()
        elif message.member == "InterfacesRemoved":
            removed_path, interfaces = message.body
            if SLOT_INTERFACE in interfaces and removed_path not in self._removals:
                self._removals[removed_path] = asyncio.get_running_loop().call_later(
                    REMOVAL_GRACE, self._remove, removed_path
                )

    def _remove(self, path: str) -> None:
        self._removals.pop(path, None)
        if self._slots.pop(path, None) is not None:
            self.notify()

    def _cancel_removals(self, path: str | None = None) -> None:
        for key in [path] if path is not None else list(self._removals):
            handle = self._removals.pop(key, None)
            if handle is not None:
                handle.cancel()

    def _fill(self, objects: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        self._cancel_removals()
        self._slots = {
            path: _updated(SlotInfo(""), interfaces[SLOT_INTERFACE], next(self._serials))
            for path, interfaces in objects.items()
            if SLOT_INTERFACE in interfaces
        }
        log.info("%d slot(s) known: %s", len(self._slots), ", ".join(sorted(self.slots())))
        self.notify()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in list(self.listeners):
            listener()


def _bus_daemon(member: str, argument: str) -> Message:
    return Message(
        destination=DBUS, path="/org/freedesktop/DBus", interface=DBUS, member=member,
        signature="s", body=[argument],
    )  # fmt: skip


def _log_failure(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reading hal0d's slots failed: %s", task.exception())
