"""The two session-bus interfaces of the tray item, written directly against the specs:
org.kde.StatusNotifierItem (the icon, its status and tooltip) and com.canonical.dbusmenu (its
menu). Hosts re-read properties on the spec's New* signals, not on PropertiesChanged, so every
change is announced with one of them. Both objects are thin: the menu's entries and what they
do come from the applet (`hal0d.applet.app`)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import Variant
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method, signal

from hal0d.bus.wire import wire_text

READ = PropertyAccess.READ
ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"


@dataclass(frozen=True)
class Entry:
    """One menu entry; an entry without an action is a separator."""

    label: str
    action: Callable[[], None] | None = None


class StatusNotifierItem(ServiceInterface):
    def __init__(self, on_activate: Callable[[], None]) -> None:
        super().__init__(ITEM_INTERFACE)
        self._on_activate = on_activate
        self.title_text = "hal0d"
        self.icon = ""
        self.state = "Passive"
        self.tip = ("", "")

    def show(self, icon: str, status: str, tip: tuple[str, str]) -> None:
        """Set what the item shows; emit a New* signal for each part that changed."""
        if icon != self.icon:
            self.icon = icon
            self.new_icon()
        tip = (wire_text(tip[0]), wire_text(tip[1]))
        if tip != self.tip:
            self.tip = tip
            self.new_tool_tip()
        if status != self.state:
            self.state = status
            self.new_status(status)

    @dbus_property(access=READ, name="Category")
    def category(self) -> "s":
        return "SystemServices"

    @dbus_property(access=READ, name="Id")
    def item_id(self) -> "s":
        return "hal0-applet"

    @dbus_property(access=READ, name="Title")
    def title(self) -> "s":
        return self.title_text

    @dbus_property(access=READ, name="Status")
    def status(self) -> "s":
        return self.state

    @dbus_property(access=READ, name="WindowId")
    def window_id(self) -> "i":
        return 0

    @dbus_property(access=READ, name="IconName")
    def icon_name(self) -> "s":
        return self.icon

    @dbus_property(access=READ, name="IconThemePath")
    def icon_theme_path(self) -> "s":
        return ""

    @dbus_property(access=READ, name="ToolTip")
    def tool_tip(self) -> "(sa(iiay)ss)":
        return [self.icon, [], self.tip[0], self.tip[1]]

    @dbus_property(access=READ, name="ItemIsMenu")
    def item_is_menu(self) -> "b":
        return False

    @dbus_property(access=READ, name="Menu")
    def menu(self) -> "o":
        return MENU_PATH

    @method(name="Activate")
    def activate(self, x: "i", y: "i") -> None:
        self._on_activate()

    @method(name="SecondaryActivate")
    def secondary_activate(self, x: "i", y: "i") -> None:
        pass

    @method(name="ContextMenu")
    def context_menu(self, x: "i", y: "i") -> None:
        pass  # the host shows the Menu object itself

    @method(name="Scroll")
    def scroll(self, delta: "i", orientation: "s") -> None:
        pass

    @signal(name="NewTitle")
    def new_title(self) -> None:
        pass

    @signal(name="NewIcon")
    def new_icon(self) -> None:
        pass

    @signal(name="NewToolTip")
    def new_tool_tip(self) -> None:
        pass

    @signal(name="NewStatus")
    def new_status(self, status: str) -> "s":
        return status


def _props(entry: Entry) -> dict[str, Variant]:
    if entry.action is None:
        return {"type": Variant("s", "separator")}
    return {"label": Variant("s", wire_text(entry.label)), "enabled": Variant("b", True)}


class DBusMenu(ServiceInterface):
    """A flat menu: ids 1..n are the entries, 0 the root; each new list is a new revision."""

    def __init__(self) -> None:
        super().__init__(MENU_INTERFACE)
        self.entries: list[Entry] = []
        self.revision = 0

    def set_entries(self, entries: list[Entry]) -> None:
        """Take a new list; hosts are told only when what they show changed."""
        shown = [(e.label, e.action is None) for e in self.entries]
        self.entries = entries
        if [(e.label, e.action is None) for e in entries] != shown:
            self.revision += 1
            self.layout_updated(self.revision, 0)

    def _item(self, item_id: int) -> list[Any]:
        if item_id == 0:
            children = [
                Variant("(ia{sv}av)", self._item(i)) for i in range(1, len(self.entries) + 1)
            ]
            return [0, {"children-display": Variant("s", "submenu")}, children]
        return [item_id, _props(self.entries[item_id - 1]), []]

    def _known(self, item_id: int) -> bool:
        return 0 <= item_id <= len(self.entries)

    @dbus_property(access=READ, name="Version")
    def version(self) -> "u":
        return 3

    @dbus_property(access=READ, name="TextDirection")
    def text_direction(self) -> "s":
        return "ltr"

    @dbus_property(access=READ, name="Status")
    def status(self) -> "s":
        return "normal"

    @dbus_property(access=READ, name="IconThemePath")
    def icon_theme_path(self) -> "as":
        return []

    @method(name="GetLayout")
    def get_layout(self, parent: "i", depth: "i", names: "as") -> "u(ia{sv}av)":
        return [self.revision, self._item(parent if self._known(parent) else 0)]

    @method(name="GetGroupProperties")
    def get_group_properties(self, ids: "ai", names: "as") -> "a(ia{sv})":
        wanted = ids or list(range(len(self.entries) + 1))
        return [[i, self._item(i)[1]] for i in wanted if self._known(i)]

    @method(name="GetProperty")
    def get_property(self, item_id: "i", name: "s") -> "v":
        props = self._item(item_id)[1] if self._known(item_id) else {}
        return props.get(name, Variant("s", ""))

    @method(name="Event")
    def event(self, item_id: "i", event_id: "s", data: "v", timestamp: "u") -> None:
        self._clicked(item_id, event_id)

    @method(name="EventGroup")
    def event_group(self, events: "a(isvu)") -> "ai":
        for item_id, event_id, _, _ in events:
            self._clicked(item_id, event_id)
        return [item_id for item_id, _, _, _ in events if not self._known(item_id)]

    @method(name="AboutToShow")
    def about_to_show(self, item_id: "i") -> "b":
        return False

    @method(name="AboutToShowGroup")
    def about_to_show_group(self, ids: "ai") -> "aiai":
        return [[], [i for i in ids if not self._known(i)]]

    def _clicked(self, item_id: int, event_id: str) -> None:
        if event_id == "clicked" and 1 <= item_id <= len(self.entries):
            action = self.entries[item_id - 1].action
            if action is not None:
                action()

    @signal(name="LayoutUpdated")
    def layout_updated(self, revision: int, parent: int) -> "ui":
        return [revision, parent]

    @signal(name="ItemsPropertiesUpdated")
    def items_properties_updated(self) -> "a(ia{sv})a(ias)":
        return [[], []]
