"""hal0-applet's wiring: the tray item on the session bus, hal0d followed on the system bus.

Nothing here polls: the applet sleeps in its event loop until a bus message arrives — a
PropertiesChanged or InterfacesAdded/Removed from hal0d, hal0d's or the tray host's name
coming or going, or a click relayed by the host.
"""

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

from dbus_fast import BusType, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from hal0d.applet.item import ITEM_PATH, MENU_PATH, DBusMenu, Entry, StatusNotifierItem
from hal0d.applet.view import PROPERTIES, Slot, icon_and_status, notification, tooltip
from hal0d.bus.wire import wire_text
from hal0d.contract import BUS_NAME, MANAGER_INTERFACE, MANAGER_PATH, SLOT_INTERFACE

log = logging.getLogger("hal0-applet")

DBUS = "org.freedesktop.DBus"
WATCHER = "org.kde.StatusNotifierWatcher"
NOTIFICATIONS = "org.freedesktop.Notifications"
HAL0_MATCHES = (
    f"type='signal',sender='{BUS_NAME}',interface='org.freedesktop.DBus.Properties',"
    f"member='PropertiesChanged',path_namespace='{MANAGER_PATH}'",
    f"type='signal',sender='{BUS_NAME}',interface='org.freedesktop.DBus.ObjectManager',"
    f"path='{MANAGER_PATH}'",
)


def _name_owner_match(name: str) -> str:
    return f"type='signal',sender='{DBUS}',member='NameOwnerChanged',arg0='{name}'"


def _plain(properties: dict[str, Variant]) -> dict[str, object]:
    return {key: value.value for key, value in properties.items()}


async def _call(bus: MessageBus, **fields: Any) -> Message:
    """A method call's reply (an ERROR message when it failed); FIELDS as for Message."""
    reply = await bus.call(Message(**fields))
    if reply is None:  # only NO_REPLY_EXPECTED calls answer None
        raise RuntimeError(f"no reply to {fields['member']}")
    return reply


def _error_text(reply: Message) -> str:
    detail = reply.body[0] if reply.body else ""
    return f"{reply.error_name}: {detail}" if detail else str(reply.error_name)


def _dbus(member: str, rule: str) -> dict[str, Any]:
    return {
        "destination": DBUS,
        "path": "/org/freedesktop/DBus",
        "interface": DBUS,
        "member": member,
        "signature": "s",
        "body": [rule],
    }


class Applet:
    def __init__(self, session: MessageBus, system: MessageBus) -> None:
        self.session, self.system = session, system
        self.item = StatusNotifierItem(on_activate=self.show_status)
        self.menu = DBusMenu()
        self.slots: dict[str, Slot] | None = None  # None: hal0d is not on the bus
        self.paths: dict[str, str] = {}  # object path -> slot name
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.session.export(ITEM_PATH, self.item)
        self.session.export(MENU_PATH, self.menu)
        self.service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        await self.session.request_name(self.service)
        self.session.add_message_handler(self._on_session)
        self.system.add_message_handler(self._on_system)
        await self._add_match(self.session, _name_owner_match(WATCHER))
        for rule in (*HAL0_MATCHES, _name_owner_match(BUS_NAME)):
            await self._add_match(self.system, rule)
        self.refresh()
        await self._register()
        await self._load_slots()

    async def _add_match(self, bus: MessageBus, rule: str) -> None:
        await _call(bus, **_dbus("AddMatch", rule))

    # --- the tray host -------------------------------------------------------------------

    async def _register(self) -> None:
        """Register with the StatusNotifierWatcher if there is one; otherwise wait quietly
        for its NameOwnerChanged."""
        reply = await _call(
            self.session,
            destination=WATCHER,
            path="/StatusNotifierWatcher",
            interface=WATCHER,
            member="RegisterStatusNotifierItem",
            signature="s",
            body=[self.service],
        )
        if reply.message_type == MessageType.ERROR:
            log.info("no StatusNotifierWatcher yet (%s); waiting for one", reply.error_name)
        else:
            log.info("registered with the StatusNotifierWatcher as %s", self.service)

    def _on_session(self, message: Message) -> None:
        if message.member == "NameOwnerChanged" and message.body[0] == WATCHER and message.body[2]:
            self._spawn(self._register())

    # --- hal0d ---------------------------------------------------------------------------

    async def _load_slots(self) -> None:
        reply = await _call(
            self.system,
            destination=BUS_NAME,
            path=MANAGER_PATH,
            interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects",
        )
        if reply.message_type == MessageType.ERROR:
            log.info("hal0d is not running (%s)", reply.error_name)
            self.slots, self.paths = None, {}
        else:
            self.slots, self.paths = {}, {}
            for path, interfaces in reply.body[0].items():
                self._add_slot(path, interfaces)
        self.refresh()

    def _add_slot(self, path: str, interfaces: dict[str, dict[str, Variant]]) -> None:
        if SLOT_INTERFACE in interfaces and self.slots is not None:
            values = _plain(interfaces[SLOT_INTERFACE])
            slot = Slot(name=str(values.get("Name", path.rsplit("/", 1)[-1])))
            slot.update(values, time.monotonic())
            self.slots[slot.name], self.paths[path] = slot, slot.name

    def _on_system(self, message: Message) -> None:
        if message.message_type != MessageType.SIGNAL:
            return
        if message.member == "NameOwnerChanged" and message.body[0] == BUS_NAME:
            if message.body[2]:
                self._spawn(self._load_slots())
            else:
                self.slots, self.paths = None, {}
                self.refresh()
        elif message.member == "PropertiesChanged" and message.body[0] == SLOT_INTERFACE:
            self._slot_changed(str(message.path), _plain(message.body[1]))
        elif message.member == "InterfacesAdded":
            self._add_slot(message.body[0], message.body[1])
            self.refresh()
        elif message.member == "InterfacesRemoved" and SLOT_INTERFACE in message.body[1]:
            name = self.paths.pop(message.body[0], None)
            if self.slots is not None and name is not None:
                self.slots.pop(name, None)
            self.refresh()

    def _slot_changed(self, path: str, changed: dict[str, object]) -> None:
        name = self.paths.get(path)
        if self.slots is None or name not in self.slots:
            return
        slot = self.slots[name]
        before = Slot(slot.name, slot.state, slot.phase, last_error=slot.last_error)
        slot.update({k: v for k, v in changed.items() if k in PROPERTIES}, time.monotonic())
        said = notification(before, slot)
        if said is not None:
            self.notify(*said, urgent=slot.state == "error")
        self.refresh()

    # --- what it shows and does ----------------------------------------------------------

    def refresh(self) -> None:
        slots = None if self.slots is None else list(self.slots.values())
        self.item.show(*icon_and_status(slots), tooltip(slots))
        entries = []
        for name in sorted(self.slots or {}):
            entries += [
                Entry(f"Load {name}", partial(self.request, "Load", name)),
                Entry(f"Unload {name}", partial(self.request, "Unload", name)),
                Entry(f"Open logs of {name}", partial(self.open_logs, name)),
            ]
        if entries:
            entries.append(Entry("-"))
        entries.append(Entry("Status...", self.show_status))
        self.menu.set_entries(entries)

    def request(self, member: str, name: str) -> None:
        """Ask hal0d to Load or Unload a slot; polkit may ask the user (interactive)."""
        self._spawn(self._request(member, name))

    async def _request(self, member: str, name: str) -> None:
        reply = await _call(
            self.system,
            destination=BUS_NAME,
            path=MANAGER_PATH,
            interface=MANAGER_INTERFACE,
            member=member,
            signature="s",
            body=[name],
            flags=MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION,
        )
        if reply.message_type == MessageType.ERROR:
            self.notify(f"{name}: {member} refused", _error_text(reply), urgent=True)

    def show_status(self) -> None:
        self._spawn(self._show_status())

    async def _show_status(self) -> None:
        """`hal0ctl status`, shown as a notification."""
        try:
            process = await asyncio.create_subprocess_exec(
                "hal0ctl",
                "status",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as error:
            self.notify("hal0ctl status", f"cannot run hal0ctl: {error}", urgent=True)
            return
        output, _ = await process.communicate()
        self.notify("hal0ctl status", output.decode(errors="replace").strip())

    def open_logs(self, name: str) -> None:
        """`hal0ctl logs NAME -f` in the configured terminal ($HAL0_APPLET_TERMINAL, else
        Debian's x-terminal-emulator alternative, which takes -e COMMAND ARGS... as xterm)."""
        command = ("hal0ctl", "logs", name, "-f")
        terminal = os.environ.get("HAL0_APPLET_TERMINAL") or shutil.which("x-terminal-emulator")
        if not terminal:
            self.notify("Open logs", f"No terminal configured: run {' '.join(command)} in one.")
            return
        self._spawn(self._run_detached(terminal, "-e", *command))

    async def _run_detached(self, *argv: str) -> None:
        try:
            process = await asyncio.create_subprocess_exec(*argv, start_new_session=True)
        except OSError as error:
            self.notify("Open logs", f"cannot run {argv[0]}: {error}", urgent=True)
            return
        await process.wait()

    def notify(self, summary: str, body: str, *, urgent: bool = False) -> None:
        self._spawn(self._notify(summary, body, urgent))

    async def _notify(self, summary: str, body: str, urgent: bool) -> None:
        hints = {"urgency": Variant("y", 2 if urgent else 1)}
        reply = await _call(
            self.session,
            destination=NOTIFICATIONS,
            path="/org/freedesktop/Notifications",
            interface=NOTIFICATIONS,
            member="Notify",
            signature="susssasa{sv}i",
            body=["hal0d", 0, self.item.icon, wire_text(summary), wire_text(body), [], hints, -1],
        )
        if reply.message_type == MessageType.ERROR:
            log.info("notification not shown (%s): %s", reply.error_name, summary)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _connect(bus_type: BusType, what: str) -> MessageBus:
    try:
        return await MessageBus(bus_type=bus_type).connect()
    except (OSError, ValueError) as error:  # no such socket; no address in the environment
        raise SystemExit(f"hal0-applet: cannot connect to the {what} bus: {error}") from None


async def run() -> None:
    session = await _connect(BusType.SESSION, "session")
    system = await _connect(BusType.SYSTEM, "system")
    applet = Applet(session, system)
    await applet.start()
    log.info("ready")
    await asyncio.wait(
        [
            asyncio.ensure_future(session.wait_for_disconnect()),  # type: ignore[no-untyped-call]
            asyncio.ensure_future(system.wait_for_disconnect()),  # type: ignore[no-untyped-call]
        ],
        return_when=asyncio.FIRST_COMPLETED,
    )
