"""How hal0ctl writes for people: colour only on a terminal and never with $NO_COLOR."""

import os
from typing import TextIO

_COLOURS = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}
# The colour of each slot state in tables and lines.
STATE_COLOURS = {
    "ready": "green",
    "serving": "green",
    "idle": "green",
    "pulling": "yellow",
    "starting": "yellow",
    "warming": "yellow",
    "unloading": "yellow",
    "error": "red",
}


def use_colour(stream: TextIO) -> bool:
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


class Style:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.colour = use_colour(stream)
        self.terminal = _isatty(stream)

    def paint(self, text: str, colour: str) -> str:
        code = _COLOURS.get(colour)
        if not self.colour or code is None or not text:
            return text
        return f"\033[{code}m{text}\033[0m"

    def state(self, state: str) -> str:
        return self.paint(state, STATE_COLOURS.get(state, ""))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover - the loop always returns


def table(rows: list[list[str]], widths_from: list[list[str]] | None = None) -> list[str]:
    """Left-aligned columns two spaces apart; widths measured on ``widths_from`` (the
    uncoloured text) when the cells carry escape sequences."""
    plain_rows = widths_from or rows
    widths = [max(len(row[i]) for row in plain_rows) for i in range(len(plain_rows[0]))]
    lines = []
    for row, plain in zip(rows, plain_rows, strict=True):
        cells = [
            cell + " " * (width - len(text))
            for cell, text, width in zip(row, plain, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
