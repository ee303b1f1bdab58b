"""Every property readable with an independent client (busctl); `busctl introspect` shows
every member of the contract with its doc string, and the interfaces docs/dbus.md lists for
each object. The contract itself is pinned against what dbus-fast exports in
tests/unit/bus/test_introspection.py."""

import xml.etree.ElementTree as ET
from pathlib import Path

from hal0d import __version__
from hal0d.bus.paths import slot_path
from tests.bus.harness import Daemon, busctl
from tests.unit.bus.test_introspection import CONTRACT

XML = Path(__file__).parents[2] / "hal0d" / "bus" / "org.hal0.Manager1.xml"
DOCS = Path(__file__).parents[2] / "docs" / "dbus.md"
NAME = "org.hal0.Manager1"
MANAGER = "/org/hal0/Manager1"

MANAGER_PROPERTIES = {
    "Version": f's "{__version__}"',
    "InterfaceRevision": "u 3",
    "Status": 's "degraded: systemd is not reachable, slots cannot start (2 offline)"',
    "Phase": 's ""',
    "BytesDone": "t 0",
    "BytesTotal": "t 0",
    "VerifyPhase": 's ""',
    "VerifyBytesDone": "t 0",
    "VerifyBytesTotal": "t 0",
    "VerifyDamaged": "as 0",
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
    "LastErrorName": 's ""',
    "ActiveRequests": "u 0",
    "Aliases": "as 0",
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


def introspect(address: str, path: str) -> ET.Element:
    return ET.fromstring(busctl(address, "introspect", "--xml-interface", NAME, path).stdout)


def test_busctl_introspect_shows_every_member_with_its_doc_string(
    daemon: Daemon, bus_address: str
) -> None:
    for path, interface in ((MANAGER, NAME), (slot_path("alpha"), "org.hal0.Slot1")):
        (live,) = [
            i for i in introspect(bus_address, path).findall("interface")
            if i.get("name") == interface
        ]  # fmt: skip
        shown = {
            f"{element.tag} {element.get('name')}": {
                a.get("name") for a in element.findall("annotation")
            }
            for element in live
        }
        assert set(shown) == set(CONTRACT[interface]), interface
        for member, notes in shown.items():
            assert "org.freedesktop.DBus.DocString" in notes, member


def documented_interfaces() -> dict[str, set[str]]:
    """The object table of docs/dbus.md: object path pattern -> its interfaces."""
    table: dict[str, set[str]] = {}
    for line in DOCS.read_text().split("## Objects", 1)[1].splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("/org/hal0"):
            table[cells[0]] = {name.strip().strip("`") for name in cells[1].split(",")}
    return table


def test_objects_have_the_interfaces_the_docs_list(daemon: Daemon, bus_address: str) -> None:
    documented = documented_interfaces()
    for pattern, path in ((MANAGER, MANAGER), (MANAGER + "/slot/NAME", slot_path("alpha"))):
        live = {i.get("name") for i in introspect(bus_address, path).findall("interface")}
        assert live == documented[pattern], pattern
    below_slot = busctl(
        bus_address, "call", NAME, slot_path("alpha"), "org.freedesktop.DBus.ObjectManager",
        "GetManagedObjects",
    )  # fmt: skip
    assert below_slot.stdout.strip() == "a{oa{sa{sv}}} 0"


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
