"""Removing what the store no longer needs: stale partials and unreferenced models.

A referenced model is never removed, and neither is a partial a running pull writes to.
Blocking: call from a worker thread.
"""

import contextlib
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hal0d.store.layout import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneReport:
    removed_models: tuple[str, ...] = ()  # SHA-256 digests
    removed_partials: tuple[str, ...] = ()  # partial keys
    freed_bytes: int = 0


def prune(
    layout: Layout,
    referenced: Collection[str],
    partial_max_age: float,
    active_partials: Collection[str],
    now: float | None = None,
) -> PruneReport:
    now = time.time() if now is None else now
    keep = {digest.lower() for digest in referenced}
    freed = 0
    models = []
    for digest in sorted(layout.model_digests()):
        if digest in keep:
            continue
        freed += _remove(layout.model_path(digest))
        models.append(digest)
        log.info("pruned unreferenced model %s", digest)
    partials = []
    for part in sorted(layout.partial_dir.glob("*.part")):
        key = part.name.removesuffix(".part")
        if key in active_partials:
            continue
        try:
            age = now - part.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < partial_max_age:
            continue
        freed += _remove(part)
        _remove(layout.partial_meta_path(key))
        partials.append(key)
        log.info("pruned partial download %s, untouched for %.0f s", key, age)
    return PruneReport(tuple(models), tuple(partials), freed)


def _remove(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        path.unlink()
        return size
    return 0
