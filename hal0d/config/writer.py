"""Comment-preserving, atomic edits of config files, for the admin's tools (hal0ctl as root).

The daemon never calls this: it only reads /etc/hal0. An edit either lands whole or not at
all (`hal0d.atomic`), and the file keeps its mode and owner.
"""

from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit import TOMLDocument

from hal0d.atomic import write_atomically


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
