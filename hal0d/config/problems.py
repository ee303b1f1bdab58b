"""Configuration problems: each names the file, where in it, the bad value and what is valid."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    file: Path
    where: str  # a key ("port", "catalogs[1].url"), "LINE:COLUMN", or "" for the whole file
    message: str

    def __str__(self) -> str:
        location = f"{self.file}:{self.where}" if self.where[:1].isdigit() else str(self.file)
        key = "" if not self.where or self.where[:1].isdigit() else f" {self.where}:"
        return f"{self.severity}: {location}:{key} {self.message}"


def shown(value: object) -> str:
    """A value as it appears in a message: repr, shortened so a huge value stays readable."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Problems:
    """Collects problems while a configuration is read, so every one is reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, file: Path, where: str, message: str) -> None:
        self.items.append(Problem(Severity.ERROR, file, where, message))

    def warning(self, file: Path, where: str, message: str) -> None:
        self.items.append(Problem(Severity.WARNING, file, where, message))

    @property
    def has_errors(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.items)


def log_problems(problems: Iterable[Problem], log: logging.Logger) -> None:
    """Each problem as one journal line, at error or warning priority."""
    for problem in problems:
        level = logging.ERROR if problem.severity is Severity.ERROR else logging.WARNING
        log.log(level, "%s", problem)
