"""Typed reads from one TOML table, each problem reported against file and key.

A reader remembers which keys were asked for, so that `finish()` can warn about the rest:
an unknown key is most often a typo of a known one, and ignoring it silently hides that.
"""

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hal0d.config.durations import VALID_FORMS, parse_duration
from hal0d.config.problems import Problems, shown

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MISSING: Any = object()


def control_character(text: str) -> str | None:
    """The name of the first control character in ``text``, or None."""
    match = _CONTROL.search(text)
    if match is None:
        return None
    names = {"\n": "newline", "\r": "carriage return", "\t": "tab", "\x00": "NUL"}
    char = match.group()
    return names.get(char, f"U+{ord(char):04X}")


class TableReader:
    def __init__(
        self, file: Path, table: Mapping[str, Any], problems: Problems, prefix: str = ""
    ) -> None:
        self.file = file
        self._table = table
        self._problems = problems
        self._prefix = prefix
        self._asked: set[str] = set()

    def key(self, key: str) -> str:
        return self._prefix + key

    def error(self, key: str, message: str) -> None:
        self._problems.error(self.file, self.key(key), message)

    def warning(self, key: str, message: str) -> None:
        self._problems.warning(self.file, self.key(key), message)

    @property
    def asked(self) -> frozenset[str]:
        """The keys read so far."""
        return frozenset(self._asked)

    def has(self, key: str) -> bool:
        return key in self._table

    def _get(self, key: str) -> Any:
        self._asked.add(key)
        return self._table.get(key, _MISSING)

    def raw(self, key: str) -> Any:
        """The value as TOML gave it, or None; for the few settings with a shape of their own."""
        value = self._get(key)
        return None if value is _MISSING else value

    def _wrong_type(self, key: str, value: Any, wanted: str) -> None:
        kind = _toml_type(value)
        article = "an" if kind[0] in "aeiou" else "a"
        self.error(key, f"{shown(value)} is {article} {kind}; expected {wanted}")

    def string(self, key: str, default: str, *, choices: Sequence[str] = ()) -> str:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self._wrong_type(key, value, "a string")
            return default
        if not self._clean(key, value):
            return default
        if choices and value not in choices:
            self.error(key, f"{shown(value)} is not valid; use one of: {', '.join(choices)}")
            return default
        return value

    def optional_string(self, key: str) -> str | None:
        value = self._get(key)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            self._wrong_type(key, value, "a string")
            return None
        return value if self._clean(key, value) else None

    def path(self, key: str, default: Path | None) -> Path | None:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or not value:
            self._wrong_type(key, value, "an absolute path as a string")
            return default
        if not self._clean(key, value):
            return default
        if not value.startswith("/"):
            self.error(key, f"{shown(value)} is a relative path; use an absolute path")
            return default
        return Path(value)

    def integer(self, key: str, default: int | None, *, minimum: int, maximum: int) -> int | None:
        value = self._get(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(key, value, f"an integer from {minimum} to {maximum}")
            return default
        if not minimum <= value <= maximum:
            self.error(key, f"{value} is out of range; use an integer from {minimum} to {maximum}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self._wrong_type(key, value, "true or false")
            return default
        return value

    def duration(
        self, key: str, default: float | None, *, may_be_zero: bool, may_be_never: bool = False
    ) -> float | None:
        """Seconds; None stands for "never" where ``may_be_never``."""
        value = self._get(key)
        if value is _MISSING:
            return default
        never = ' or "never"' if may_be_never else ""
        valid = f"{VALID_FORMS}{never}"
        if not isinstance(value, str):
            self._wrong_type(key, value, f"a duration string: {valid}")
            return default
        if may_be_never and value == "never":
            return None
        seconds = parse_duration(value)
        if seconds is None:
            self.error(key, f"{shown(value)} is not a duration; use {valid}")
            return default
        if seconds == 0 and not may_be_zero:
            self.error(key, f"{shown(value)} is zero, which makes no sense here; use {valid}")
            return default
        return seconds

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if value is _MISSING:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._wrong_type(key, value, 'a list of strings, e.g. ["--flag", "value"]')
            return ()
        for index, item in enumerate(value):
            if not self._clean(f"{key}[{index}]", item):
                return ()
        return tuple(value)

    def tables(self, key: str) -> list["TableReader"]:
        """The readers of an array of tables (``[[key]]``)."""
        value = self._get(key)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self._wrong_type(key, value, f"an array of tables, written [[{key}]]")
            return []
        return [
            TableReader(self.file, item, self._problems, f"{self.key(key)}[{index}].")
            for index, item in enumerate(value)
        ]

    def finish(self, known: Sequence[str] = ()) -> None:
        """Warn about every key nobody asked for (``known`` adds keys read elsewhere)."""
        valid = sorted(self._asked | set(known))
        for key in self._table:
            if key in self._asked or key in known:
                continue
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.warning(key, f"unknown key, ignored{hint}")

    def _clean(self, key: str, value: str) -> bool:
        name = control_character(value)
        if name is None:
            return True
        self.error(key, f"{shown(value)} contains a control character ({name}); remove it")
        return False


def _toml_type(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}
    for python_type, name in kinds.items():
        if isinstance(value, python_type):
            return name
    return "table" if isinstance(value, dict) else "date or time"
