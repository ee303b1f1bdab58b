"""sd_notify for hal0d: READY, STATUS, WATCHDOG, RELOADING and STOPPING.

`sdnotify` swallows every error unless ``debug=True``, so it is always used with
``debug=True`` here and each failure is logged: a daemon that silently never reports READY=1
would only show up as a start timeout much later. Without $NOTIFY_SOCKET (not started by
systemd) notifications are skipped, which is logged once at debug level.

The slot runner has a client of its own (`hal0d.runner.notify`) because it may import the
standard library only; this one keeps the daemon on its declared dependency.
"""

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import sdnotify  # type: ignore[import-untyped]

log = logging.getLogger(__name__)


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def watchdog_interval() -> float | None:
    """Half of $WATCHDOG_USEC in seconds, if the watchdog is on for this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


async def feed_watchdog(
    notifier: "Notifier", sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> None:
    """WATCHDOG=1 now and then every `watchdog_interval()`; returns at once if the watchdog
    is off. ``sleep`` is how it waits (a test passes one that records the interval)."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notifier.watchdog()
        await sleep(interval)


class Notifier:
    def __init__(self) -> None:
        self._notifier: sdnotify.SystemdNotifier | None = None
        self._last_status = ""
        address = os.environ.get("NOTIFY_SOCKET", "")
        if not address:
            log.debug("NOTIFY_SOCKET is not set; not reporting to systemd")
            return
        # sdnotify would drop the socket it made without closing it; check the common case first
        if address.startswith("/") and not os.path.exists(address):  # noqa: PTH110
            log.warning("cannot connect to the systemd notify socket: %s does not exist", address)
            return
        try:
            self._notifier = sdnotify.SystemdNotifier(debug=True)
        except (OSError, TypeError) as error:
            log.warning("cannot connect to the systemd notify socket: %s", error)

    def close(self) -> None:
        if self._notifier is not None and self._notifier.socket is not None:
            self._notifier.socket.close()
        self._notifier = None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one datagram; False (and a warning) if it failed."""
        if self._notifier is None:
            return False
        text = "\n".join(fields)
        try:
            self._notifier.notify(text)
        except (OSError, UnicodeError) as error:
            log.warning("sd_notify %r failed: %s", text.replace("\n", " "), error)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        self._last_status = ""  # READY=1 always carries the status line
        return self.send("READY=1", *self._status_fields(status))

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS= only when it changed."""
        fields = self._status_fields(text)
        return self.send(*fields) if fields else True

    def _status_fields(self, text: str | None) -> list[str]:
        if text is None or text == self._last_status:
            return []
        self._last_status = text
        # one line, and latin-1 is what sdnotify can encode
        clean = text.replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
        return [f"STATUS={clean}"]
