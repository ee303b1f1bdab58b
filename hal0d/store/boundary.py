"""The store's edge: where foreign exceptions become classes of hal0d's exception tree.

Callers of the store (the daemon, the bus) only ever see `Hal0Error` subclasses with a message
a person understands, as httpx does at its own transport boundary: an `OSError` from the disk
names the operation, the path and the reason (ENOSPC and EDQUOT become `NoSpaceError`), an
httpx or ssl error names the operation. Anything else is a bug: it is logged with its
traceback and surfaces as a plain `Hal0Error` (``org.hal0.Error.Internal``).
"""

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from hal0d.errors import DownloadError, Hal0Error
from hal0d.store.errors import NoSpaceError

log = logging.getLogger(__name__)

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def translated(exc: BaseException, doing: str, kind: type[Hal0Error] = DownloadError) -> Hal0Error:
    """``exc`` as the exception tree's class; ``doing`` says what failed ("pulling X")."""
    if isinstance(exc, Hal0Error):
        return exc
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename else ""
        text = f"{doing}: {reason}{where}"
        return NoSpaceError(text) if exc.errno in NO_SPACE else kind(text)
    if isinstance(exc, httpx.HTTPError):
        return kind(f"{doing}: {exc}")
    log.error("unexpected error %s", doing, exc_info=exc)
    return Hal0Error(f"{doing}: unexpected {type(exc).__name__}: {exc}")


@contextmanager
def edge(doing: str, kind: type[Hal0Error] = DownloadError) -> Iterator[None]:
    """Let the tree's exceptions through; translate every other `Exception`."""
    try:
        yield
    except Hal0Error:
        raise
    except Exception as exc:
        raise translated(exc, doing, kind) from exc
