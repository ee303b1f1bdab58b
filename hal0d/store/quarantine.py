"""Bytes that failed verification, kept for inspection next to a sidecar saying why.

One entry per distinct (URL, actual SHA-256): the same wrong bytes from the same place again
only count another attempt in the existing entry (and make it the newest), so a repeated pull
of a bad file does not fill the area with copies. The area is bounded: after each addition the
oldest entries are dropped until the bytes kept fit ``max_bytes``. Blocking: call from a
worker thread.
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
    time: float  # seconds since the epoch (of the latest attempt)
    reason: str
    attempts: int = 1  # how many pulls got these bytes from this URL


def quarantine_file(
    source: Path, quarantine_dir: Path, record: QuarantineRecord, max_bytes: int
) -> Path | None:
    """Move ``source`` into quarantine with its sidecar; returns where it went.

    Returns None if the entry was dropped at once because it alone exceeds ``max_bytes``.
    """
    known = _same_entry(quarantine_dir, record)
    if known is not None:
        return _count_again(source, known, record)
    entry_id = f"{time.time_ns()}-{record.actual_sha256[:16]}"
    target = quarantine_dir / f"{entry_id}.bin"
    write_json_atomic(quarantine_dir / f"{entry_id}.json", asdict(record))
    source.replace(target)  # same filesystem: the store keeps both areas under models_dir
    fsync_dir(quarantine_dir)
    fsync_dir(source.parent)
    enforce_bound(quarantine_dir, max_bytes)
    return target if target.exists() else None


def _same_entry(quarantine_dir: Path, record: QuarantineRecord) -> Path | None:
    """The bytes path of the entry holding the same bytes from the same URL, if any."""
    for path, sidecar in entries(quarantine_dir):
        if (
            sidecar.get("url") == record.url
            and sidecar.get("actual_sha256") == record.actual_sha256
            and path.exists()
        ):
            return path
    return None


def _count_again(source: Path, known: Path, record: QuarantineRecord) -> Path:
    sidecar_path = known.with_suffix(".json")
    sidecar = read_json(sidecar_path) or {}
    attempts = sidecar.get("attempts", 1)
    counted = asdict(record) | {"attempts": (attempts if isinstance(attempts, int) else 1) + 1}
    write_json_atomic(sidecar_path, counted)
    source.unlink()
    log.info("quarantine entry %s seen again (%d attempts)", known.name, counted["attempts"])
    return known


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
