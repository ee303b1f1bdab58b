"""Removing models and partials: Prune (what the store no longer needs) and one model's delete.

A referenced model is never removed, and neither is a partial a running pull writes to.
Prune says why it removed or kept each thing. Blocking: call from a worker thread.
"""

import contextlib
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from hal0d.config.durations import format_duration
from hal0d.errors import NoModelError
from hal0d.store.layout import Layout
from hal0d.store.verified import forget_verified

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneEntry:
    """One thing Prune looked at: a model's SHA-256 or a partial's file name."""

    item: str
    size: int  # bytes freed if removed, held if kept
    why: str  # a sentence starting with "removed" or "kept"

    @property
    def removed(self) -> bool:
        return self.why.startswith("removed")


@dataclass(frozen=True)
class PruneReport:
    removed_models: tuple[str, ...] = ()  # SHA-256 digests
    removed_partials: tuple[str, ...] = ()  # partial keys
    freed_bytes: int = 0
    entries: tuple[PruneEntry, ...] = ()  # every model and partial, removed or kept, and why


def prune(
    layout: Layout,
    referenced: Mapping[str, str] | Collection[str],
    partial_max_age: float,
    active_partials: Collection[str],
    now: float | None = None,
) -> PruneReport:
    """``referenced``: the digests to keep, or a mapping of each to why ("used by ...")."""
    now = time.time() if now is None else now
    keep = {digest.lower(): _why_kept(referenced, digest) for digest in referenced}
    entries = []
    models = []
    for digest in sorted(layout.model_digests()):
        path = layout.model_path(digest)
        if digest in keep:
            entries.append(PruneEntry(digest, _size(path), f"kept: {keep[digest]}"))
            continue
        entries.append(PruneEntry(digest, _remove(path), "removed: no slot uses it"))
        forget_verified(layout, digest)
        models.append(digest)
        log.info("pruned unreferenced model %s", digest)
    partials = []
    for part in sorted(layout.partial_dir.glob("*.part")):
        key = part.name.removesuffix(".part")
        size = _size(part)
        if key in active_partials:
            entries.append(PruneEntry(part.name, size, "kept: a pull is writing it"))
            continue
        try:
            age = now - part.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < partial_max_age:
            limit = format_duration(partial_max_age)
            why = f"kept: touched less than partial_max_age ({limit}) ago; a pull resumes it"
            entries.append(PruneEntry(part.name, size, why))
            continue
        freed = _remove(part)
        _remove(layout.partial_meta_path(key))
        why = f"removed: a partial download untouched for {format_duration(age)}"
        entries.append(PruneEntry(part.name, freed, why))
        partials.append(key)
        log.info("pruned partial download %s, untouched for %.0f s", key, age)
    freed_total = sum(entry.size for entry in entries if entry.removed)
    return PruneReport(tuple(models), tuple(partials), freed_total, tuple(entries))


def delete_model(layout: Layout, sha256: str) -> int:
    """Remove one stored model (and its verification record); its size.
    NoModelError if the store does not hold it."""
    path = layout.model_path(sha256)
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        raise NoModelError(f"model {sha256} is not in the store; nothing to delete") from None
    forget_verified(layout, sha256)
    log.info("deleted model %s (%d bytes)", sha256, size)
    return size


def _why_kept(referenced: Mapping[str, str] | Collection[str], digest: str) -> str:
    if isinstance(referenced, Mapping):
        return str(referenced[digest])
    return "in use"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        path.unlink()
        return size
    return 0
