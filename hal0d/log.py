"""Logging that reads well in journald and on a terminal.

When stderr is the journal (systemd sets JOURNAL_STREAM to its device:inode), each line gets
a `<N>` priority prefix that journald turns into the entry's priority; on a terminal lines are
plain. The level comes from $SYSTEMD_LOG_LEVEL if set, else from the config.
"""

import logging
import os
import sys
from typing import TextIO

# syslog priorities, as journald reads them from a "<N>" prefix
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
# systemd's level names (SYSTEMD_LOG_LEVEL, log_level in hal0.toml) to Python's
LEVELS = {
    "emerg": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "crit": logging.CRITICAL,
    "err": logging.ERROR,
    "warning": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
NOISY_LIBRARIES = ("httpx", "httpcore")


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # Every line of a multi-line message (a traceback) keeps the record's priority.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def stderr_is_journal(stream: TextIO = sys.stderr) -> bool:
    expected = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = expected.partition(":")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return f"{status.st_dev}:{status.st_ino}" == f"{device}:{inode}"


def level_from(config_level: str) -> int:
    name = os.environ.get("SYSTEMD_LOG_LEVEL", "").strip().lower() or config_level
    return LEVELS.get(name, logging.INFO)


def setup_logging(config_level: str = "info", stream: TextIO = sys.stderr) -> None:
    handler = logging.StreamHandler(stream)
    if stderr_is_journal(stream):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_from(config_level))
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
