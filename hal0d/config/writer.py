"""Comment-preserving, atomic edits of config files, for the admin's tools (hal0ctl as root).

The daemon never calls this: it only reads /etc/hal0. An edit either lands whole or not at
all: the new text goes to a temporary file in the same directory, is fsynced, renamed over
the old file, and the directory is fsynced so the rename survives a crash.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit import TOMLDocument

DEFAULT_MODE = 0o644


def edit_toml(path: Path, edit: Callable[[TOMLDocument], None]) -> None:
    """Apply ``edit`` to the document at ``path`` (a new one if missing) and save it."""
    try:
        text = path.read_text(encoding="utf-8")
        old = path.stat()
    except FileNotFoundError:
        text, old = "", None
    document = tomlkit.parse(text)
    edit(document)
    write_atomically(path, tomlkit.dumps(document).encode("utf-8"), like=old)


def write_atomically(path: Path, data: bytes, like: os.stat_result | None = None) -> None:
    """Replace ``path`` with ``data``, keeping the old file's mode and owner."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), like.st_mode & 0o7777 if like else DEFAULT_MODE)
            if like is not None and os.geteuid() == 0:
                os.fchown(file.fileno(), like.st_uid, like.st_gid)
            os.fsync(file.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
