"""Byte sizes such as "512M" or "8GiB" (binary multiples, as in systemd's size settings)."""

import re

_SIZE = re.compile(r"(\d+)\s*(|B|K|KiB|M|MiB|G|GiB|T|TiB)")
_FACTORS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
VALID_FORMS = 'a number of bytes with an optional K, M, G or T suffix, e.g. "512M", "8G"'


def parse_size(text: str) -> int | None:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _FACTORS[match.group(2).removesuffix("iB")]


def format_size(size: int) -> str:
    """``size`` for a person: "1.5 GiB (1610612736 bytes)", or "512 bytes" below 1 KiB."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.1f} {unit} ({size} bytes)"
    return f"{size} bytes"


def format_rate(bytes_per_second: float) -> str:
    """A transfer rate for a person: "1.0 KiB/s", "3 B/s"."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if bytes_per_second >= 1 << shift:
            return f"{bytes_per_second / (1 << shift):.1f} {unit}/s"
    return f"{bytes_per_second:.0f} B/s"
