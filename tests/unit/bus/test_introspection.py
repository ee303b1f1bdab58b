"""The frozen contract, written out here: what dbus-fast exports from hal0d's objects is
exactly it, the shipped interface XML describes exactly it, and Introspect answers with the
shipped XML, annotations included.

`CONTRACT` is the golden copy: a member can only be added (with InterfaceRevision going up),
never changed or removed, and editing the XML or the Python side alone fails here."""

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
from hal0d.verify_run import VerifyProgress

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"
R = "read"
CONTRACT: dict[str, dict[str, object]] = {
    MANAGER_INTERFACE: {
        "method ListSlots": [("a(sso)", "out")],
        "method Diagnose": [("a(ssss)", "out")],  # revision 2
        "method Pull": [("s", "in")],
        "method Load": [("s", "in")],
        "method LoadWithOptions": [("s", "in"), ("a{sv}", "in")],  # revision 2
        "method Wake": [("s", "in")],  # revision 2
        "method Unload": [("s", "in")],
        "method Restart": [("s", "in")],
        "method Cancel": [("s", "in")],
        "method Prune": [("t", "out")],
        "method Reload": [],
        "method ResolveModel": [("s", "in"), ("s", "out"), ("s", "out"), ("t", "out")],  # rev. 3
        "method DeleteModel": [("s", "in")],  # revision 3
        "method ListModels": [("a(stast)", "out")],  # revision 3
        "method Verify": [("s", "in")],  # revision 3
        "method PruneReport": [("a(sts)", "out")],  # revision 3
        "property Version": ("s", R),
        "property InterfaceRevision": ("u", R),
        "property Status": ("s", R),
        "property Phase": ("s", R),
        "property BytesDone": ("t", R),
        "property BytesTotal": ("t", R),
        "property VerifyPhase": ("s", R),  # revision 3
        "property VerifyBytesDone": ("t", R),  # revision 3
        "property VerifyBytesTotal": ("t", R),  # revision 3
        "property VerifyDamaged": ("as", R),  # revision 3
    },
    SLOT_INTERFACE: {
        "method Pull": [],
        "method Load": [],
        "method LoadWithOptions": [("a{sv}", "in")],  # revision 2
        "method Unload": [],
        "method Restart": [],
        "method Cancel": [],
        "property Name": ("s", R),
        "property State": ("s", R),
        "property Phase": ("s", R),
        "property BytesDone": ("t", R),
        "property BytesTotal": ("t", R),
        "property Model": ("s", R),
        "property Sha256": ("s", R),
        "property Endpoint": ("s", R),
        "property Unit": ("s", R),
        "property NRestarts": ("u", R),
        "property LastError": ("s", R),
        "property LastErrorName": ("s", R),  # revision 2
        "property ActiveRequests": ("u", R),
        "property Aliases": ("as", R),  # revision 2
    },
}


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
        status="ok",
        progress=SimpleNamespace(phase="", bytes_done=0, bytes_total=0),
        verify_progress=VerifyProgress(),
    )
    polkit = cast(PolkitAuthority, None)  # not asked: nothing is called
    view = SlotView(name="chat", state=SlotState.OFFLINE, unit="hal0-slot@chat.service")
    return [
        ManagerObject(cast(Manager, manager), polkit),
        SlotObject(cast(Manager, manager), polkit, view),
    ]


def test_dbus_fast_exports_exactly_the_contract() -> None:
    for exported in objects():
        generated = ServiceInterface.introspect(exported).to_xml()  # dbus-fast's own view
        assert members(generated) == CONTRACT[exported.name], exported.name


def test_the_shipped_xml_describes_exactly_the_contract() -> None:
    shipped = shipped_interfaces()
    assert set(shipped) == set(CONTRACT)
    for name, interface in shipped.items():
        assert members(interface) == CONTRACT[name], name


def test_interface_revision_is_3() -> None:
    manager, _ = objects()
    assert manager.interface_revision == 3  # type: ignore[attr-defined]


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
