"""The one error boundary between hal0d and its D-Bus callers.

Every service method is wrapped by `boundary`: a `Hal0Error` becomes a D-Bus error of its
``dbus_name`` with its message; anything else is logged with its traceback (journal only) and
answered ``org.hal0.Error.Internal`` with a generic message. Without this, dbus-fast before
4.2.3 answers ``com.dubstepdish.dbus.next.ServiceError`` with a Python traceback.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from dbus_fast import DBusError

from hal0d.bus.wire import wire_text
from hal0d.errors import Hal0Error

log = logging.getLogger(__name__)

INTERNAL_ERROR = Hal0Error.dbus_name
INTERNAL_MESSAGE = "internal error in hal0d; the details are in its journal (journalctl -u hal0d)"
# A message is for a person; a 10 MB echo of hostile input is not.
MAX_MESSAGE = 2000

P = ParamSpec("P")
R = TypeVar("R")


def to_dbus_error(error: Exception) -> DBusError:
    if isinstance(error, DBusError):
        return error
    if isinstance(error, Hal0Error):
        text = wire_text(str(error) or type(error).__name__)
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3] + "..."
        return DBusError(error.dbus_name, text)
    log.error("unexpected error answering a D-Bus call", exc_info=error)
    return DBusError(INTERNAL_ERROR, INTERNAL_MESSAGE)


def boundary(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            raise to_dbus_error(error) from None

    return guarded
