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
