"""Editing slot files for `hal0ctl slot`: typed values, tomlkit edits, checked before written.

A value from the command line is typed by its key's declared type (`SLOT_KEYS`), never parsed
as TOML: `port=8101` is an integer, `idle_after=5m` a string, `extra_args=--jinja -fa` a list
split as a shell would. An edit keeps the file's comments and layout (tomlkit), and the new
bytes are checked with `load_config` — the code of `check-config`, the daemon's start and its
reload — as if they were on disk, so a change hal0d would refuse is never written. The write
is atomic and keeps the file's mode and owner.
"""

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import tomlkit

from hal0d.atomic import fsync_dir, write_atomically
from hal0d.cli.exits import EX_CONFIG, EX_USAGE, CliError
from hal0d.config import Severity, load_config
from hal0d.config.access import checker_for
from hal0d.config.load import SLOTS_DIR
from hal0d.config.slot_file import BOOLEAN, INTEGER, SLOT_KEYS, STRINGS
from hal0d.contract import DAEMON_USER
from hal0d.names import SLOT_NAME_PATTERN, is_valid_slot_name

SLOT_FILE_MODE = 0o644  # as the package's /etc/hal0 files: readable by hal0d's user


def slot_file(config_dir: Path, name: str) -> Path:
    if not is_valid_slot_name(name):
        raise CliError(
            f"{name!r} is not a valid slot name; slot names match {SLOT_NAME_PATTERN}", EX_USAGE
        )
    return config_dir / SLOTS_DIR / f"{name}.toml"


def typed(key: str, text: str) -> Any:
    """``text`` as a value of ``key``'s type; None (remove the key) for an empty text."""
    kind = SLOT_KEYS.get(key)
    if kind is None:
        raise CliError(
            f"{key!r} is not a slot setting; the settings are: {', '.join(SLOT_KEYS)} "
            "(docs/config.md)",
            EX_USAGE,
        )
    if text == "":
        return None
    if kind == INTEGER:
        digits = text.removeprefix("-")
        if not digits.isascii() or not digits.isdigit():
            raise CliError(f"{key}={text}: {key} is an integer", EX_USAGE)
        return int(text)
    if kind == BOOLEAN:
        if text not in ("true", "false"):
            raise CliError(f"{key}={text}: {key} is true or false", EX_USAGE)
        return text == "true"
    if kind == STRINGS:
        try:
            return shlex.split(text)
        except ValueError as error:
            raise CliError(
                f"{key}={text}: {error} (the value is split as a shell would)", EX_USAGE
            ) from None
    return text


def assignments(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` arguments as typed values (None: remove the key)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals:
            raise CliError(f"{pair!r} is not KEY=VALUE (an empty VALUE removes KEY)", EX_USAGE)
        values[key] = typed(key, text)
    return values


def new_document(keys: Mapping[str, Any], comment: tuple[str, ...]) -> str:
    """A slot file holding ``keys`` in order (None values left out), ``comment`` on top."""
    document = tomlkit.document()
    for line in comment:
        document.add(tomlkit.comment(line))
    for key, value in keys.items():
        if value is not None:
            document[key] = value
    return tomlkit.dumps(document)


def edited(file: Path, text: str, values: Mapping[str, Any]) -> str:
    """``text`` (of ``file``) with ``values`` set (None: removed); comments and layout kept."""
    try:
        document = tomlkit.parse(text)
    except ValueError as error:  # tomlkit's ParseError, on every version
        raise CliError(
            f"{file} cannot be edited: {error}; fix it by hand (`hal0ctl check-config` "
            "names the problem)",
            EX_CONFIG,
        ) from None
    for key, value in values.items():
        if value is None:
            if key in document:
                del document[key]
        else:
            document[key] = value
    return tomlkit.dumps(document)


def check(config_dir: Path, file: Path, data: bytes | None, out: TextIO) -> None:
    """Refuse (EX_CONFIG) unless the configuration with ``file`` holding ``data`` (None:
    removed) is one hal0d would load; print its problems about ``file`` and every error."""
    checker, _note = checker_for(DAEMON_USER)
    config, problems = load_config(config_dir, checker=checker, pending={file: data})
    for problem in problems:
        if problem.file == file or problem.severity is Severity.ERROR:
            print(problem, file=out)
    if config is None:
        raise CliError(
            f"{file} left as it was: hal0d would refuse the configuration with this change "
            "(the errors above)",
            EX_CONFIG,
        )


def write(file: Path, data: bytes) -> None:
    """Replace or create ``file`` atomically (a new one root's, mode 0644)."""
    file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        old = file.stat()
    except FileNotFoundError:
        old = None
    write_atomically(file, data, mode=None if old else SLOT_FILE_MODE, like=old)


def remove(file: Path) -> None:
    file.unlink()
    fsync_dir(file.parent)
