"""A guard for dbus-fast's message writer against a full socket buffer.

dbus-fast (1.84.2 and 5.x alike) writes queued messages in a loop and treats every exception
from ``socket.send`` as a lost connection — including EAGAIN, which only means the kernel
buffer towards the bus daemon is full for the moment. Under a flood of calls (hundreds of
replies in one burst) hal0d would then drop off the bus, a denial of service any local user
could trigger. `PatientSocket` answers EAGAIN with "0 bytes sent"; the writer keeps the rest
of the message and waits for the socket to become writable, as it does after a short write.
"""

import socket
from typing import Any


class PatientSocket:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def guard_writer(bus: object) -> bool:
    """Wrap the socket of ``bus``'s message writer; False if this dbus-fast has none."""
    writer = getattr(bus, "_writer", None)
    sock = getattr(writer, "sock", None)
    if not isinstance(sock, socket.socket):
        return False
    writer.sock = PatientSocket(sock)  # type: ignore[union-attr]
    return True
