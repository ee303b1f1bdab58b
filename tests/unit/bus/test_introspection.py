"""What dbus-fast exports is exactly what the shipped interface XML describes, and Introspect
answers with the shipped XML, annotations included."""

import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any, cast

from dbus_fast.service import ServiceInterface

from hal0d.bus.introspection import shipped_interfaces
from hal0d.bus.objects import ManagerObject, SlotObject
from hal0d.contract import MANAGER_INTERFACE, SLOT_INTERFACE
from hal0d.manager import Manager
from hal0d.polkit import PolkitAuthority
from hal0d.slots.state import SlotState
from hal0d.slots.view import SlotView

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def members(interface: ET.Element) -> dict[str, object]:
    """What a client can rely on: members, argument signatures and directions, access."""
    found: dict[str, object] = {}
    for element in interface:
        kind, name = element.tag, element.get("name")
        if kind == "method":
            found[f"method {name}"] = [
                (arg.get("type"), arg.get("direction", "in")) for arg in element.findall("arg")
            ]
        elif kind == "property":
            found[f"property {name}"] = (element.get("type"), element.get("access"))
        elif kind == "signal":
            found[f"signal {name}"] = [arg.get("type") for arg in element.findall("arg")]
    return found


def objects() -> list[ServiceInterface]:
    manager: Any = SimpleNamespace(
        status="ok", progress=SimpleNamespace(phase="", bytes_done=0, bytes_total=0)
    )
    polkit = cast(PolkitAuthority, None)  # not asked: nothing is called
    view = SlotView(name="chat", state=SlotState.OFFLINE, unit="hal0-slot@chat.service")
    return [
        ManagerObject(cast(Manager, manager), polkit),
        SlotObject(cast(Manager, manager), polkit, view),
    ]


def test_the_exported_members_are_the_shipped_ones() -> None:
    shipped = shipped_interfaces()
    assert set(shipped) == {MANAGER_INTERFACE, SLOT_INTERFACE}
    for exported in objects():
        generated = ServiceInterface.introspect(exported).to_xml()  # dbus-fast's own view
        assert members(generated) == members(shipped[exported.name]), exported.name


def test_introspect_answers_with_the_shipped_annotations() -> None:
    manager, slot = (exported.introspect().to_xml() for exported in objects())
    emits = {
        (interface.get("name"), prop.get("name")): annotation.get("value")
        for interface in (manager, slot)
        for prop in interface.findall("property")
        for annotation in prop.findall("annotation")
        if annotation.get("name") == EMITS
    }
    assert emits[(MANAGER_INTERFACE, "Version")] == "const"
    assert emits[(MANAGER_INTERFACE, "BytesDone")] == "true"
    assert emits[(SLOT_INTERFACE, "Name")] == "const"
    assert emits[(SLOT_INTERFACE, "State")] == "true"
    assert len(emits) == len(manager.findall("property")) + len(slot.findall("property"))
