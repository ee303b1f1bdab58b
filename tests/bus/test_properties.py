"""Every property readable with an independent client (busctl), and the live introspection
equal to the shipped interface XML, annotations included."""

import xml.etree.ElementTree as ET
from pathlib import Path

from hal0d import __version__
from hal0d.bus.paths import slot_path
from tests.bus.harness import Daemon, busctl

XML = Path(__file__).parents[2] / "hal0d" / "bus" / "org.hal0.Manager1.xml"
NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"

MANAGER_PROPERTIES = {
    "Version": f's "{__version__}"',
    "InterfaceRevision": "u 1",
    "Status": 's "degraded: systemd is not reachable, slots cannot start (2 offline)"',
    "Phase": 's ""',
    "BytesDone": "t 0",
    "BytesTotal": "t 0",
}
SLOT_PROPERTIES = {
    "Name": 's "b-2_x"',
    "State": 's "offline"',
    "Phase": 's ""',
    "BytesDone": "t 0",
    "BytesTotal": "t 0",
    "Model": 's "https://127.0.0.1:1/none.gguf"',
    "Sha256": 's "' + "0" * 64 + '"',
    "Endpoint": 's "http://127.0.0.1:8101"',  # b-2_x: the second port of port_range
    "Unit": 's "hal0-slot@b-2_x.service"',
    "NRestarts": "u 0",
    "LastError": 's ""',
    "ActiveRequests": "u 0",
}


def get(address: str, path: str, interface: str, prop: str) -> str:
    return busctl(address, "get-property", NAME, path, interface, prop).stdout.strip()


def test_busctl_reads_every_manager_property(daemon: Daemon, bus_address: str) -> None:
    for prop, expected in MANAGER_PROPERTIES.items():
        assert get(bus_address, MANAGER, "org.hal0.Manager1", prop) == expected, prop


def test_busctl_reads_every_slot_property(daemon: Daemon, bus_address: str) -> None:
    path = slot_path("b-2_x")
    assert path == "/org/hal0/Manager1/slot/b_2d2_5fx"
    for prop, expected in SLOT_PROPERTIES.items():
        assert get(bus_address, path, "org.hal0.Slot1", prop) == expected, prop


def test_busctl_lists_slots(daemon: Daemon, bus_address: str) -> None:
    out = busctl(bus_address, "call", NAME, MANAGER, "org.hal0.Manager1", "ListSlots").stdout
    assert out.strip() == (
        'a(sso) 2 "alpha" "offline" "/org/hal0/Manager1/slot/alpha" '
        '"b-2_x" "offline" "/org/hal0/Manager1/slot/b_2d2_5fx"'
    )


def _shape(element: ET.Element) -> tuple[object, ...]:
    """An element as a client reads it: tag, attributes and children; whitespace ignored."""
    return (element.tag, sorted(element.attrib.items()), [_shape(child) for child in element])


def _interface(root: ET.Element, name: str) -> ET.Element:
    found = [i for i in root.findall("interface") if i.get("name") == name]
    assert len(found) == 1, name
    return found[0]


def test_live_introspection_equals_the_shipped_xml(daemon: Daemon, bus_address: str) -> None:
    shipped = ET.parse(XML).getroot()
    manager = ET.fromstring(
        busctl(bus_address, "introspect", "--xml-interface", NAME, MANAGER).stdout
    )
    slot = ET.fromstring(
        busctl(bus_address, "introspect", "--xml-interface", NAME, slot_path("alpha")).stdout
    )
    for live, name in ((manager, "org.hal0.Manager1"), (slot, "org.hal0.Slot1")):
        assert _shape(_interface(live, name)) == _shape(_interface(shipped, name)), name
    assert "org.freedesktop.DBus.ObjectManager" in {i.get("name") for i in manager}


def test_shipped_xml_documents_every_member() -> None:
    shipped = ET.parse(XML).getroot()
    for interface in shipped.findall("interface"):
        for element in interface:
            if element.tag not in ("method", "property", "signal"):
                continue
            notes = {a.get("name") for a in element.findall("annotation")}
            assert "org.freedesktop.DBus.DocString" in notes, element.get("name")
            if element.tag == "property":
                assert "org.freedesktop.DBus.Property.EmitsChangedSignal" in notes
