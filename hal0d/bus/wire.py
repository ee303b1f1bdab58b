"""Strings as hal0d puts them on the wire: ASCII only, anything else backslash-escaped.

Debian bookworm's dbus-fast 1.84.2 writes a string's length in characters instead of UTF-8
bytes, so a single non-ASCII character (from a hostile slot name echoed in an error, a URL
in the config, an OS error message) makes the message malformed and the bus daemon drops
hal0d's connection. Every string hal0d sends goes through `wire_text`, on every version, so
both dependency sets behave the same.
"""

import re


def wire_text(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def text_from_wire(text: str) -> str:
    """The inverse, for clients showing hal0d's strings to people: ``\\u2014`` is a dash
    again. (A message quoting a literal ``\\xNN`` would be changed too; none does.)"""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1)[1:], 16)), text)
