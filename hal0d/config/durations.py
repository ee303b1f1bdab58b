"""Durations such as "90s", "5m", "1h30m" or "2d", as in systemd's time spans (a subset)."""

import re

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
VALID_FORMS = 'a number with a unit: ms, s, m, h or d, e.g. "90s", "5m", "1h30m"'


def parse_duration(text: str) -> float | None:
    """Seconds for ``text``, or None if it is not a duration."""
    compact = text.replace(" ", "")
    if not compact:
        return None
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            return None
        seconds += int(match.group(1)) * UNITS[match.group(2)]
        position = match.end()
    return seconds if position == len(compact) else None


def format_duration(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    parts = []
    remaining = round(seconds * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, remaining = divmod(remaining, factor)
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)
