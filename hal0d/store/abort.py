"""Cancelling a transfer that is blocked inside the kernel.

Setting a flag does not wake a thread blocked in ``recv`` or ``poll``, and neither does
``close()`` from another thread. ``shutdown(SHUT_RDWR)`` does: the blocked call returns at once
(end of stream or an error) and the peer sees the connection close. `Abort` is the flag plus
that: every socket a transfer opens is watched through a duplicate of its descriptor, which
stays valid when TLS wraps the socket (the wrapper takes over the original descriptor object),
so TLS connections are shut down the same way.
"""

import contextlib
import os
import socket
import threading
from collections.abc import Callable


class Abort:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._watched: set[socket.socket] = set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            for control in self._watched:
                _shutdown(control)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def watch(self, sock: socket.socket) -> Callable[[], None]:
        """Shut ``sock`` down when the abort is set (at once if it is); returns the function
        that stops watching it, to be called when the connection is closed."""
        control = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._watched.add(control)
            if self._event.is_set():
                _shutdown(control)

        def forget() -> None:
            with self._lock:
                self._watched.discard(control)
            control.close()

        return forget


def _shutdown(control: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected (yet, or any more): nothing to wake
        control.shutdown(socket.SHUT_RDWR)
