"""Pure helpers for systemd unit names and object paths (no D-Bus here)."""

import re
from dataclasses import dataclass

from hal0d.contract import SLOT_UNIT_TEMPLATE
from hal0d.names import is_valid_slot_name

UNIT_PATH_PREFIX = "/org/freedesktop/systemd1/unit/"
SLOT_UNIT_PATTERN = SLOT_UNIT_TEMPLATE.format("*")
_SLOT_PREFIX, _SLOT_SUFFIX = SLOT_UNIT_TEMPLATE.split("{}")
_ESCAPED = re.compile(r"_([0-9a-f]{2})")


def escape_path_label(text: str) -> str:
    """Escape one object-path label as sd_bus_path_encode() does.

    `hal0-slot@a.service` → `hal0_2dslot_40a_2eservice`.
    """
    if not text:
        return "_"
    out = []
    for index, char in enumerate(text):
        if char.isascii() and (char.isalpha() or (char.isdigit() and index > 0)):
            out.append(char)
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)


def unescape_path_label(label: str) -> str:
    if label == "_":
        return ""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), label)


def unit_path(unit: str) -> str:
    return UNIT_PATH_PREFIX + escape_path_label(unit)


def unit_from_path(path: str) -> str | None:
    if not path.startswith(UNIT_PATH_PREFIX):
        return None
    return unescape_path_label(path[len(UNIT_PATH_PREFIX) :])


def slot_unit(name: str) -> str:
    return SLOT_UNIT_TEMPLATE.format(name)


def slot_from_unit(unit: str) -> str | None:
    """The slot name of `hal0-slot@NAME.service`, or None for any other unit."""
    if not (unit.startswith(_SLOT_PREFIX) and unit.endswith(_SLOT_SUFFIX)):
        return None
    name = unit[len(_SLOT_PREFIX) : len(unit) - len(_SLOT_SUFFIX)]
    return name if is_valid_slot_name(name) else None


@dataclass(frozen=True)
class UnitProperties:
    """What hal0d reads of a slot unit (org.freedesktop.systemd1.Unit + .Service)."""

    unit: str
    load_state: str
    active_state: str
    sub_state: str
    result: str
    n_restarts: int
    exec_main_code: int
    exec_main_status: int
    exec_main_pid: int
    status_text: str
    job_type: str | None
    state_change_monotonic: float  # seconds, CLOCK_MONOTONIC
    invocation_id: str = ""  # InvocationID as hex; new for every start of the unit
