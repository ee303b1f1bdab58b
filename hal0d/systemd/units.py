"""Pure helpers for systemd unit names and object paths (no D-Bus here)."""

from dataclasses import dataclass

from hal0d.bus.paths import decode_label, encode_label
from hal0d.contract import SLOT_UNIT_TEMPLATE
from hal0d.names import is_valid_slot_name

UNIT_PATH_PREFIX = "/org/freedesktop/systemd1/unit/"
SLOT_UNIT_PATTERN = SLOT_UNIT_TEMPLATE.format("*")
_SLOT_PREFIX, _SLOT_SUFFIX = SLOT_UNIT_TEMPLATE.split("{}")


def unit_path(unit: str) -> str:
    """systemd's object path of ``unit`` (`GetUnit` answers the same for a loaded unit)."""
    return UNIT_PATH_PREFIX + encode_label(unit)


def unit_from_path(path: str) -> str | None:
    if not path.startswith(UNIT_PATH_PREFIX):
        return None
    return decode_label(path[len(UNIT_PATH_PREFIX) :])


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
