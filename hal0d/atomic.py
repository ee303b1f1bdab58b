"""Replacing a file so that a reader, or a crash, sees the old or the new file, never half.

The new bytes go to a temporary file in the same directory, are fsynced, renamed over the
old file, and the directory is fsynced so the rename itself survives a crash. A failure
leaves the old file and no temporary file behind.
"""

import os
import tempfile
from pathlib import Path

DEFAULT_MODE = 0o644


def write_atomically(
    path: Path, data: bytes, *, mode: int | None = None, like: os.stat_result | None = None
) -> None:
    """Replace ``path`` with ``data``; mode and owner from ``like`` (the old file) if given."""
    if mode is None:
        mode = like.st_mode & 0o7777 if like is not None else DEFAULT_MODE
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)
            if like is not None and os.geteuid() == 0:
                os.fchown(file.fileno(), like.st_uid, like.st_gid)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
