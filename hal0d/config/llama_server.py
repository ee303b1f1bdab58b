"""Where slots find llama-server: the ``llama_server`` key of hal0.toml, else a fixed search.

Neither Debian release packages llama.cpp, so an admin installs llama-server by hand (see
docs/install.md): naming it in hal0.toml, or putting it where the search looks. The search runs
when the configuration is loaded (at start and on every reload).
"""

import os
from collections.abc import Sequence
from pathlib import Path

SEARCH_DIRS = (Path("/usr/bin"), Path("/usr/local/bin"))
# What the configuration names when the key is unset and the search found nothing.
DEFAULT = SEARCH_DIRS[0] / "llama-server"
HINT = "install it in /usr/bin or /usr/local/bin, or set llama_server in /etc/hal0/hal0.toml"


def search(dirs: Sequence[Path] = SEARCH_DIRS) -> Path:
    """The first executable ``llama-server`` in ``dirs``; the first candidate if there is none,
    so messages always name a path."""
    candidates = [directory / "llama-server" for directory in dirs]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return candidates[0]
