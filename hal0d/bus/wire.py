"""Strings as hal0d puts them on the wire: ASCII only, anything else backslash-escaped.

Debian bookworm's dbus-fast 1.84.2 writes a string's length in characters instead of UTF-8
bytes, so a single non-ASCII character (from a hostile slot name echoed in an error, a URL
in the config, an OS error message) makes the message malformed and the bus daemon drops
hal0d's connection. Every string hal0d sends goes through `wire_text`, on every version, so
both dependency sets behave the same.
"""


def wire_text(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")
