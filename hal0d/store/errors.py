"""Errors of the model store, as subclasses of hal0d's one exception tree.

DownloadError (hal0d.errors)
 ├── PullCancelledError   the caller cancelled the pull; a resumable partial stays
 ├── HttpStatusError      the server answered with a status that is not retried (404, 403...)
 ├── InsecureUrlError     an http:// URL or a redirect away from https without allow_http
 ├── NoSpaceError         not enough free disk space for the rest of the download
 ├── OverlongBodyError    the server sent more than it announced; refused, not retried
 └── TransientError       worth another attempt (connection, 5xx...)
      └── TooSlowError    the low-speed rule or the stall timeout ended an attempt
IntegrityError (hal0d.errors)
 └── ChecksumMismatchError  the bytes hashed to something else; they are in quarantine

Foreign exceptions (OSError, httpx, ssl) never leave the store: `hal0d.store.boundary` maps
them into this tree where the store's public methods return.
"""

from pathlib import Path

from hal0d.errors import DownloadError, IntegrityError


class PullCancelledError(DownloadError):
    pass


class HttpStatusError(DownloadError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class InsecureUrlError(DownloadError):
    pass


class NoSpaceError(DownloadError):
    pass


class OverlongBodyError(DownloadError):
    pass


class TransientError(DownloadError):
    """A failure worth another attempt (connection, stall, 5xx...)."""


class TooSlowError(TransientError):
    pass


class ChecksumMismatchError(IntegrityError):
    def __init__(self, message: str, expected: str, actual: str, quarantined: Path | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual
        self.quarantined = quarantined
