"""Object paths encoded exactly as systemd's ``sd_bus_path_encode()`` does: the slots' own, and
systemd's unit paths (`hal0d.systemd.units`).

A label keeps ASCII letters, and digits except in the first position; every other byte
(``-``, ``_``, a leading digit, anything non-ASCII as its UTF-8 bytes) becomes ``_xx`` in
lower-case hex. The empty label is ``_``. So ``a-b`` is ``a_2db`` and ``7b`` is ``_37b``.
"""

from hal0d.contract import SLOT_PATH_PREFIX

_HEX = "0123456789abcdef"


def _keeps(byte: int, first: bool) -> bool:
    if ord("a") <= byte <= ord("z") or ord("A") <= byte <= ord("Z"):
        return True
    return not first and ord("0") <= byte <= ord("9")


def encode_label(label: str) -> str:
    if not label:
        return "_"
    out = []
    for index, byte in enumerate(label.encode("utf-8")):
        if _keeps(byte, index == 0):
            out.append(chr(byte))
        else:
            out.append("_" + _HEX[byte >> 4] + _HEX[byte & 0xF])
    return "".join(out)


def decode_label(encoded: str) -> str | None:
    """The label of an encoded path element, or None if it is not a valid encoding."""
    if encoded == "_":
        return ""
    raw = bytearray()
    index = 0
    while index < len(encoded):
        char = encoded[index]
        if char == "_":
            digits = encoded[index + 1 : index + 3]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                return None
            raw.append(int(digits, 16))
            index += 3
        elif char.isascii() and char.isalnum():
            raw.append(ord(char))
            index += 1
        else:
            return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def slot_path(name: str) -> str:
    return f"{SLOT_PATH_PREFIX}/{encode_label(name)}"


def slot_name_from_path(path: str) -> str | None:
    prefix = SLOT_PATH_PREFIX + "/"
    if not path.startswith(prefix) or "/" in path[len(prefix) :]:
        return None
    return decode_label(path[len(prefix) :])
