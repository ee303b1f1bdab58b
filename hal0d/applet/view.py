"""What the tray shows, as pure functions of the slots hal0d reports: the icon, the SNI status,
the tooltip lines, and which changes deserve a desktop notification."""

from dataclasses import dataclass, field

BUSY_STATES = frozenset({"pulling", "starting", "warming", "unloading"})
UP_STATES = frozenset({"ready", "serving"})
RUNNING_PHASES = frozenset({"checking_local", "download", "verify", "quarantine"})

# freedesktop icon names that Debian's adwaita-icon-theme ships in full colour.
ICON_NOT_RUNNING = "network-offline"
ICON_IDLE = "network-idle"
ICON_BUSY = "network-receive"
ICON_UP = "network-transmit-receive"
ICON_ERROR = "dialog-error"


@dataclass
class Slot:
    """The properties of one org.hal0.Slot1 object the applet uses, plus a transfer rate it
    derives from successive BytesDone values."""

    name: str
    state: str = "offline"
    phase: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    last_error: str = ""
    rate: float = 0.0  # bytes per second of the running pull
    _sample: tuple[float, int] | None = field(default=None, repr=False)

    def update(self, changed: dict[str, object], now: float) -> None:
        """Apply a PropertiesChanged (or GetAll) dictionary of plain values."""
        for key, attribute in PROPERTIES.items():
            if key in changed:
                setattr(self, attribute, changed[key])
        if "BytesDone" in changed:
            if self._sample is not None and now > self._sample[0]:
                moved = self.bytes_done - self._sample[1]
                self.rate = max(moved, 0) / (now - self._sample[0])
            self._sample = (now, self.bytes_done)
        if self.phase not in RUNNING_PHASES:
            self.rate, self._sample = 0.0, None


PROPERTIES = {
    "Name": "name",
    "State": "state",
    "Phase": "phase",
    "BytesDone": "bytes_done",
    "BytesTotal": "bytes_total",
    "LastError": "last_error",
}


def icon_and_status(slots: list[Slot] | None) -> tuple[str, str]:
    """(IconName, SNI Status) for the slots; None means hal0d is not on the bus.

    Never "Passive": hosts may hide a passive item, and the menu that loads an idle slot must
    stay reachable."""
    if slots is None:
        return ICON_NOT_RUNNING, "Active"
    states = {slot.state for slot in slots}
    if "error" in states:
        return ICON_ERROR, "NeedsAttention"
    if states & BUSY_STATES:
        return ICON_BUSY, "Active"
    if states & UP_STATES:
        return ICON_UP, "Active"
    return ICON_IDLE, "Active"


def slot_line(slot: Slot) -> str:
    """One tooltip line: "chat: pulling 41 %, 12 MB/s", "code: ready", "x: error (why)"."""
    text = f"{slot.name}: {slot.state}"
    if slot.state == "pulling" and slot.bytes_total:
        text += f" {100 * slot.bytes_done // slot.bytes_total} %"
    if slot.state == "pulling" and slot.rate:
        text += f", {slot.rate / 1e6:.0f} MB/s"
    if slot.state == "error" and slot.last_error:
        text += f" ({slot.last_error})"
    return text


def tooltip(slots: list[Slot] | None) -> tuple[str, str]:
    """(title, body) of the tooltip."""
    if slots is None:
        return "hal0d", "hal0d not running"
    if not slots:
        return "hal0d", "no slots configured"
    return "hal0d", "\n".join(slot_line(slot) for slot in sorted(slots, key=lambda s: s.name))


def notification(before: Slot, after: Slot) -> tuple[str, str] | None:
    """(summary, body) of the desktop notification a change from BEFORE to AFTER deserves."""
    if after.phase == "done" and before.phase in RUNNING_PHASES:
        return f"{after.name}: model pulled", "The model is downloaded and verified."
    if after.state == "error" and before.state != "error":
        return f"{after.name}: failed", after.last_error or "no reason given"
    return None
