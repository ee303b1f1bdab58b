"""Wiring the objects onto a bus: export, keep the slot objects in step, ObjectManager signals.

dbus-fast sends InterfacesAdded/InterfacesRemoved from the exported object's own path. The
D-Bus specification (and GDBusObjectManagerClient) expects them from the ObjectManager's
path, so `Hal0Bus` sends them from /org/hal0/Manager1 for the slot objects instead.
"""

import logging
from typing import Any

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType
from dbus_fast.service import ServiceInterface

from hal0d.bus import caller
from hal0d.bus.introspection import property_types
from hal0d.bus.objects import ManagerObject, SlotObject, slot_properties
from hal0d.bus.patient_socket import guard_writer
from hal0d.contract import MANAGER_PATH, SLOT_INTERFACE
from hal0d.manager import Manager
from hal0d.polkit import PolkitAuthority

log = logging.getLogger(__name__)

OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"


class Hal0Bus(MessageBus):
    async def connect(self) -> "Hal0Bus":
        await super().connect()
        if not guard_writer(self):
            log.warning("cannot guard dbus-fast's writer against EAGAIN; floods may disconnect")
        return self

    def _emit_interface_added(self, path: str, interface: ServiceInterface) -> None:
        if not isinstance(interface, SlotObject):
            super()._emit_interface_added(path, interface)
            return
        types = property_types(SLOT_INTERFACE)
        values = {
            name: Variant(types[name], value) for name, value in interface.all_properties().items()
        }
        self._send_object_manager_signal(
            "InterfacesAdded", "oa{sa{sv}}", [path, {SLOT_INTERFACE: values}]
        )

    def _emit_interface_removed(self, path: str, removed_interfaces: list[str]) -> None:
        self._send_object_manager_signal("InterfacesRemoved", "oas", [path, removed_interfaces])

    def _send_object_manager_signal(self, member: str, signature: str, body: list[Any]) -> None:
        if not self.connected:
            return
        self.send(Message.new_signal(MANAGER_PATH, OBJECT_MANAGER, member, signature, body))


def system_bus() -> Hal0Bus:
    """The system bus ($DBUS_SYSTEM_BUS_ADDRESS if set), not yet connected."""
    return Hal0Bus(bus_type=BusType.SYSTEM)


class BusService:
    """Exports the Manager and one object per slot, and keeps them current."""

    def __init__(self, bus: Hal0Bus, manager: Manager, polkit: PolkitAuthority) -> None:
        self._bus = bus
        self._manager = manager
        self._polkit = polkit
        self._manager_object = ManagerObject(manager, polkit)
        self._slots: dict[str, SlotObject] = {}
        self._unsubscribe: list[Any] = []

    def export(self) -> None:
        self._bus.add_message_handler(caller.capture)
        self._bus.export(MANAGER_PATH, self._manager_object)
        self.sync()
        self._unsubscribe.append(self._manager.subscribe(self.sync))

    def unexport(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for name in list(self._slots):
            self._drop(name)
        self._manager_object.throttle.close()
        self._bus.unexport(MANAGER_PATH)
        self._bus.remove_message_handler(caller.capture)

    def sync(self) -> None:
        """Bring slot objects and every property in step with the manager."""
        views = self._manager.views()
        for name in [n for n in self._slots if n not in views]:
            self._drop(name)
        for name, view in views.items():
            existing = self._slots.get(name)
            if existing is None:
                slot = SlotObject(self._manager, self._polkit, view)
                self._slots[name] = slot
                self._bus.export(slot.object_path, slot)
            else:
                existing.update(view)
        self._manager_object.refresh()

    def _drop(self, name: str) -> None:
        slot = self._slots.pop(name)
        slot.throttle.close()
        self._bus.unexport(slot.object_path, slot)


__all__ = ["BusService", "Hal0Bus", "slot_properties", "system_bus"]
