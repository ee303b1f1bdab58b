"""Reading one TOML configuration file: size limit, byte-order mark, syntax errors by position.

Configuration is read with the standard library's `tomllib` (tomlkit, which keeps comments,
is for the admin tools' edits and parses large files far more slowly). A file is refused
before parsing if it is larger than `MAX_BYTES`: no hal0d setting needs that much, and a
daemon must not spend its start parsing whatever landed in /etc/hal0. A UTF-8 byte-order mark,
which some editors write, is accepted.

Python 3.11's `TOMLDecodeError` has no line or column attributes (they came in 3.14); the
position is read from its message, "... (at line L, column C)" or "(at end of document)".
"""

import re
import tomllib
from pathlib import Path
from typing import Any

MAX_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"
_AT_POSITION = re.compile(r" \(at line (\d+), column (\d+)\)$")
_AT_END = " (at end of document)"


class TomlFileError(Exception):
    """The file cannot be used; ``where`` is "LINE:COLUMN" for a syntax error, else ""."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def read_toml(file: Path, data: bytes | None = None) -> dict[str, Any]:
    """The file's top-level table (``data`` stands for its content when given: a change
    checked before it is written). FileNotFoundError passes through; every other problem is
    a TomlFileError naming what is wrong."""
    if data is None:
        try:
            with file.open("rb") as stream:
                data = stream.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise TomlFileError("", f"cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise TomlFileError(
            "", f"is larger than {MAX_BYTES} bytes (1 MiB), the limit for a configuration file"
        )
    try:
        text = data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as error:
        raise TomlFileError("", f"is not UTF-8 text (byte {error.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        where, message = _position(error, text)
        raise TomlFileError(where, f"TOML syntax error: {message}") from None


def _position(error: tomllib.TOMLDecodeError, text: str) -> tuple[str, str]:
    message = str(error).splitlines()[0] if str(error) else "invalid TOML"
    line, column = getattr(error, "lineno", None), getattr(error, "colno", None)
    if isinstance(line, int) and isinstance(column, int):  # Python >= 3.14
        return f"{line}:{column}", getattr(error, "msg", message)
    match = _AT_POSITION.search(message)
    if match is not None:
        return f"{match[1]}:{match[2]}", message[: match.start()]
    if message.endswith(_AT_END):
        lines = text.split("\n")
        return f"{len(lines)}:{len(lines[-1]) + 1}", message.removesuffix(_AT_END)
    return "", message
