"""hal0d answers Introspect with the shipped interface XML, doc strings and annotations included.

dbus-fast builds introspection data from the exported Python members, and Debian bookworm's
dbus-fast 1.84.2 cannot emit annotations at all, so `busctl introspect` and applets would not
see `EmitsChangedSignal` (which properties are constant, which send `PropertiesChanged`) nor
the doc strings. The objects hand dbus-fast the shipped elements instead. The file is package
data (installed to /usr/share/dbus-1/interfaces/ as well); a unit test checks that the members
dbus-fast exports are exactly the ones it describes.
"""

import copy
import xml.etree.ElementTree as ET
from functools import cache
from importlib.resources import files

from dbus_fast import introspection as intr

XML_FILE = "org.hal0.Manager1.xml"


@cache
def shipped_interfaces() -> dict[str, ET.Element]:
    """The ``<interface>`` elements of the shipped XML, by interface name."""
    text = files(__package__).joinpath(XML_FILE).read_text(encoding="utf-8")
    root = ET.fromstring(text)  # noqa: S314 - our own package data, not input
    return {element.get("name", ""): element for element in root.findall("interface")}


@cache
def property_types(interface: str) -> dict[str, str]:
    """The D-Bus type of each property of ``interface``, as the shipped XML declares it."""
    return {
        element.get("name", ""): element.get("type", "")
        for element in shipped_interfaces()[interface].findall("property")
    }


class ShippedInterface(intr.Interface):
    """Introspection data of one interface that renders as its shipped XML element."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._element = shipped_interfaces()[name]

    def to_xml(self) -> ET.Element:
        return copy.deepcopy(self._element)
