"""Bytes that failed verification, kept for inspection next to a sidecar saying why.

The area is bounded: after each addition the oldest entries are dropped until the bytes kept
fit ``max_bytes``. Blocking: call from a worker thread.
"""

import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hal0d.atomic import fsync_dir
from hal0d.store.layout import read_json, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuarantineRecord:
    url: str
    name: str
    expected_sha256: str
    actual_sha256: str
    size: int
    time: float  # seconds since the epoch
    reason: str


def quarantine_file(
    source: Path, quarantine_dir: Path, record: QuarantineRecord, max_bytes: int
) -> Path | None:
    """Move ``source`` into quarantine with its sidecar; returns where it went.

    Returns None if the entry was dropped at once because it alone exceeds ``max_bytes``.
    """
    entry_id = f"{time.time_ns()}-{record.actual_sha256[:16]}"
    target = quarantine_dir / f"{entry_id}.bin"
    write_json_atomic(quarantine_dir / f"{entry_id}.json", asdict(record))
    source.replace(target)  # same filesystem: the store keeps both areas under models_dir
    fsync_dir(quarantine_dir)
    fsync_dir(source.parent)
    enforce_bound(quarantine_dir, max_bytes)
    return target if target.exists() else None


def entries(quarantine_dir: Path) -> list[tuple[Path, dict[str, object]]]:
    """(bytes path, sidecar) of each entry, oldest first."""
    found = []
    for sidecar in quarantine_dir.glob("*.json"):
        data = read_json(sidecar) or {}
        found.append((sidecar.with_suffix(".bin"), data))

    def age_key(item: tuple[Path, dict[str, object]]) -> tuple[float, str]:
        stamp = item[1].get("time")
        return (float(stamp) if isinstance(stamp, int | float) else 0.0, item[0].name)

    return sorted(found, key=age_key)


def enforce_bound(quarantine_dir: Path, max_bytes: int) -> None:
    kept = entries(quarantine_dir)
    sizes = {path: _size(path) for path, _ in kept}
    total = sum(sizes.values())
    for path, _ in kept:
        if total <= max_bytes:
            break
        log.warning("quarantine over %d bytes: dropping %s", max_bytes, path.name)
        for victim in (path, path.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()
        total -= sizes[path]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
