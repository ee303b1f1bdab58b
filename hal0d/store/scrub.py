"""Re-verifying a stored model against the digest it is named by."""

import logging
import time

from hal0d.store.layout import Layout, hash_file
from hal0d.store.quarantine import QuarantineRecord, quarantine_file

log = logging.getLogger(__name__)


def scrub(layout: Layout, sha256: str, quarantine_max_bytes: int) -> bool:
    """True if the model is present and intact; a damaged one goes to quarantine.

    Blocking (reads the whole file): call from a worker thread.
    """
    path = layout.model_path(sha256)
    try:
        actual, size = hash_file(path)
    except FileNotFoundError:
        return False
    if actual == sha256.lower():
        return True
    log.error("model %s is damaged: its bytes hash to %s; quarantining it", path, actual)
    record = QuarantineRecord(
        url="",
        name=path.name,
        expected_sha256=sha256.lower(),
        actual_sha256=actual,
        size=size,
        time=time.time(),
        reason="scrub found a checksum mismatch",
    )
    quarantine_file(path, layout.quarantine_dir, record, quarantine_max_bytes)
    return False
