"""When each stored model was last found intact: ``<models_dir>/.verified/<sha256>``.

A pull that verified the bytes and a verify run that re-hashed them write the time (Unix
seconds); `ListModels` reads it. It is a record for people, not a proof: a missing or
unreadable one reads as "never". Blocking: call from a worker thread.
"""

import contextlib
import logging
from dataclasses import dataclass

from hal0d.atomic import write_atomically
from hal0d.store.layout import Layout

log = logging.getLogger(__name__)


def record_verified(layout: Layout, sha256: str, when: float) -> None:
    """Remember that ``sha256`` matched its bytes at ``when``; a failure only warns."""
    try:
        write_atomically(layout.verified_path(sha256), f"{int(when)}\n".encode())
    except OSError as error:
        log.warning("cannot record when model %s was verified: %s", sha256, error)


def last_verified(layout: Layout, sha256: str) -> int:
    """Unix seconds of the last verification of ``sha256``, 0 if never (or unknown)."""
    try:
        text = layout.verified_path(sha256).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return 0
    return int(text.strip()) if text.strip().isdigit() else 0


def forget_verified(layout: Layout, sha256: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        layout.verified_path(sha256).unlink()


@dataclass(frozen=True)
class StoredModel:
    sha256: str
    size: int
    last_verified: int  # Unix seconds, 0 = never


def stored_models(layout: Layout) -> list[StoredModel]:
    """Every model in the store, by digest (one stat and one small read each)."""
    found = []
    for digest in sorted(layout.model_digests()):
        try:
            size = layout.model_path(digest).stat().st_size
        except FileNotFoundError:
            continue  # removed meanwhile
        found.append(StoredModel(digest, size, last_verified(layout, digest)))
    return found
