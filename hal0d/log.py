"""Logging that reads well in journald and on a terminal.

When stderr is the journal (systemd sets JOURNAL_STREAM to its device:inode), each record is
sent once, as a native journal entry (datagrams to /run/systemd/journal/socket), *instead of*
a line on stderr: so it keeps its priority and the structured fields a caller attached with
`fields(...)` (``SLOT=``, ``MODEL_SHA256=``, ``PHASE=``, ``MESSAGE_ID=``), and
`journalctl SLOT=chat` finds it. Should the socket refuse a record, that record goes to stderr
with a `<N>` priority prefix. On a terminal lines are plain. The level comes from
$SYSTEMD_LOG_LEVEL if set, else from ``log_level`` in hal0.toml.

journald silently drops fields whose names do not match ``^[A-Z][A-Z0-9_]{0,63}$``, so
`fields` refuses such names at the call site instead of losing them.
"""

import errno
import fcntl
import logging
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

# syslog priorities, as journald reads them
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
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
SYSLOG_IDENTIFIER = "hal0d"
FIELD_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_FIELDS_ATTR = "journal_fields"
_PLAIN = logging.Formatter()

# Fixed MESSAGE_IDs (made with `systemd-id128 new`) of the events an admin searches for:
# `journalctl MESSAGE_ID=...`. Never change one: scripts and catalogs match on them.
MESSAGE_SLOT_READY = "3f8ee4ce56f448d8b2abecd65be624f8"
MESSAGE_SLOT_FAILED = "7a6052a3ac94465abc18ece507c7a134"
MESSAGE_PULL_VERIFIED = "8c3158a31bcc44b39ddf5101c3e64387"
MESSAGE_QUARANTINED = "1f55d00b753a4e6a8b4157737a9de992"


def fields(**values: object) -> dict[str, dict[str, str]]:
    """Journal fields for a record: ``log.info("...", extra=fields(SLOT="chat"))``.

    Raises ValueError for a name journald would drop."""
    for name in values:
        if not FIELD_NAME.fullmatch(name):
            raise ValueError(
                f"journal field name {name!r} would be dropped by journald; "
                "use upper-case letters, digits and _, starting with a letter (at most 64)"
            )
    return {_FIELDS_ATTR: {name: str(value) for name, value in values.items()}}


def record_fields(record: logging.LogRecord) -> Mapping[str, str]:
    found = getattr(record, _FIELDS_ATTR, None)
    return found if isinstance(found, dict) else {}


def encode_entry(entry: Mapping[str, str]) -> bytes:
    """The native protocol: ``NAME=value\\n``, or NAME, newline, 64-bit LE length, value."""
    out = bytearray()
    for name, value in entry.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalWriter:
    """Sends entries to journald's native socket; a too-large one travels in a memfd."""

    def __init__(self, path: Path = JOURNAL_SOCKET) -> None:
        self._path = str(path)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def send(self, entry: Mapping[str, str]) -> None:
        data = encode_entry(entry)
        try:
            self._socket.sendto(data, self._path)
        except OSError as error:
            if error.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(data)

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("hal0d-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            # journald accepts a memfd only once it is sealed against writes
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))
            self._socket.sendmsg([], [rights], 0, self._path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._socket.close()


class JournalHandler(logging.Handler):
    """Each record once, as a journal entry with its fields; stderr only if that fails."""

    def __init__(self, writer: JournalWriter, fallback: logging.Handler) -> None:
        super().__init__()
        self._writer = writer
        self._fallback = fallback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.send(self.entry(record))
        except OSError:
            self._fallback.handle(record)
        except Exception:
            self.handleError(record)

    def entry(self, record: logging.LogRecord) -> dict[str, str]:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + _PLAIN.formatException(record.exc_info)
        entry = {
            "MESSAGE": f"{record.name}: {message}",
            "PRIORITY": str(_PRIORITY.get(record.levelno, 6)),
            "SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
        }
        entry.update(record_fields(record))
        return entry

    def close(self) -> None:
        self._writer.close()
        super().close()


class JournalFormatter(logging.Formatter):
    """The stderr form for the journal: a `<N>` priority prefix on every line."""

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


def setup_logging(
    config_level: str = "info",
    stream: TextIO = sys.stderr,
    journal_socket: Path = JOURNAL_SOCKET,
) -> None:
    handler: logging.Handler = logging.StreamHandler(stream)
    if stderr_is_journal(stream):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
        if journal_socket.exists():
            handler = JournalHandler(JournalWriter(journal_socket), handler)
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    apply_level(config_level)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def apply_level(config_level: str) -> None:
    """Follow ``log_level`` from hal0.toml (at start and on every reload)."""
    logging.getLogger().setLevel(level_from(config_level))
