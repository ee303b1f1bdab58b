"""Re-verifying stored models against the digests they are named by.

A model whose bytes still match is recorded as verified now; a damaged one is moved to
quarantine with a sidecar saying so, and the damage is reported. Blocking (reads whole files):
call from a worker thread.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hal0d.errors import Hal0Error
from hal0d.store.layout import Layout, hash_file
from hal0d.store.quarantine import QuarantineRecord, quarantine_file
from hal0d.store.verified import record_verified

log = logging.getLogger(__name__)

REASON = "verify found a checksum mismatch"


@dataclass(frozen=True)
class Damage:
    """A stored model whose bytes no longer match its name."""

    sha256: str
    actual_sha256: str
    quarantined_at: Path | None  # None: larger than the quarantine bound, dropped

    def sentence(self) -> str:
        where = (
            f"moved to quarantine ({self.quarantined_at})"
            if self.quarantined_at is not None
            else "deleted (larger than the quarantine bound)"
        )
        return (
            f"the stored model {self.sha256} is damaged: its bytes hash to "
            f"{self.actual_sha256}; hal0d {where}"
        )


class VerifyAborted(Hal0Error):  # noqa: N818 - hal0d is stopping: not an error of the run
    """The run was asked to stop."""


def check_model(
    layout: Layout,
    sha256: str,
    quarantine_max_bytes: int,
    progress: Callable[[int], None] | None = None,
    abort: threading.Event | None = None,
) -> Damage | None:
    """None if the model is intact (or gone meanwhile); its Damage, once quarantined, if not.
    ``progress(n)`` after each block of n bytes hashed; ``abort`` stops between blocks."""
    path = layout.model_path(sha256)

    def step(count: int) -> None:
        if abort is not None and abort.is_set():
            raise VerifyAborted
        if progress is not None:
            progress(count)

    try:
        actual, size = hash_file(path, progress=step)
    except FileNotFoundError:
        return None  # deleted or pruned while the run went on: nothing to verify
    if actual == sha256:
        if path.exists():  # not deleted while it was hashed
            record_verified(layout, sha256, time.time())
        return None
    log.error("model %s is damaged: its bytes hash to %s; quarantining it", path, actual)
    record = QuarantineRecord(
        url="",
        name=path.name,
        expected_sha256=sha256,
        actual_sha256=actual,
        size=size,
        time=time.time(),
        reason=REASON,
    )
    try:
        kept = quarantine_file(path, layout.quarantine_dir, record, quarantine_max_bytes)
    except FileNotFoundError:
        return None  # deleted while it was hashed
    return Damage(sha256, actual, kept)


def check_models(  # noqa: PLR0913 - what to check, and the three ways it reports back
    layout: Layout,
    digests: Iterable[str],
    quarantine_max_bytes: int,
    *,
    progress: Callable[[int], None],
    damaged: Callable[[Damage], None],
    abort: threading.Event,
) -> None:
    """`check_model` for each digest in turn; ``damaged(damage)`` as each is found."""
    for sha256 in digests:
        damage = check_model(layout, sha256, quarantine_max_bytes, progress, abort)
        if damage is not None:
            damaged(damage)


def scrub(layout: Layout, sha256: str, quarantine_max_bytes: int) -> bool:
    """True if the model is present and intact; a damaged one goes to quarantine."""
    if not layout.model_path(sha256).is_file():
        return False
    return check_model(layout, sha256.lower(), quarantine_max_bytes) is None
