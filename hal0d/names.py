"""Slot names: checked once, at the edge, before they reach a path, a unit or an object path."""

import re

from hal0d.errors import InvalidNameError

SLOT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_SLOT_NAME = re.compile(SLOT_NAME_PATTERN)


def is_valid_slot_name(name: str) -> bool:
    # fullmatch: `$` alone would accept a trailing newline.
    return _SLOT_NAME.fullmatch(name) is not None


def validate_slot_name(name: str) -> str:
    """Return ``name`` if it is a valid slot name, else raise InvalidNameError."""
    if not is_valid_slot_name(name):
        shown = name if len(name) <= 64 else name[:61] + "..."
        raise InvalidNameError(
            f"{shown!r} is not a valid slot name; slot names match {SLOT_NAME_PATTERN}"
        )
    return name
